"""Retention and monitoring: when outputs or uploads expired, histograms from workers, when alerts were sent.

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'histogram_buckets',
        sa.Column('metric', sa.String(length=64), nullable=False),
        sa.Column('label', sa.String(length=64), nullable=False),
        sa.Column('bucket', sa.String(length=16), nullable=False),
        sa.Column('value', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('metric', 'label', 'bucket'))
    op.create_table(
        'alerts_sent',
        sa.Column('kind', sa.String(length=64), nullable=False),
        sa.Column('sent_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('kind'))
    for table in ('jobs', 'audio'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('expired_at', sa.DateTime(), nullable=True))
    op.create_index('ix_jobs_status_finished', 'jobs', ['status', 'finished_at'])


def downgrade() -> None:
    op.drop_table('alerts_sent')
    op.drop_table('histogram_buckets')
    op.drop_index('ix_jobs_status_finished', table_name='jobs')
    for table in ('jobs', 'audio'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('expired_at')
