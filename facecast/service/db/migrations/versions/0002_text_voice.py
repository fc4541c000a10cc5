"""Text jobs: the text to speak and its voice, on jobs and batches.

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ('jobs', 'batches'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('text', sa.Text(), nullable=True))
            batch_op.add_column(sa.Column('voice', sa.String(length=200), nullable=True))


def downgrade() -> None:
    for table in ('jobs', 'batches'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('voice')
            batch_op.drop_column('text')
