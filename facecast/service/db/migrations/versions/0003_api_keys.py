"""API keys kept in the database; each key's id is the tenant (owner) of what it creates.

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Strings are sized as in models.ApiKey; the key itself is never stored, only its sha256 (key_hash).
    text = {'id': 40, 'name': 200, 'role': 16, 'key_hash': 64, 'key_prefix': 16, 'webhook_secret': 100}
    limits = ('rate_limit_per_min', 'max_active_jobs')
    op.create_table(
        'api_keys',
        *(sa.Column(name, sa.String(length=size), nullable=False) for name, size in text.items()),
        *(sa.Column(name, sa.Integer(), nullable=True) for name in limits),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('revoked_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key_hash'),
    )


def downgrade() -> None:
    op.drop_table('api_keys')
