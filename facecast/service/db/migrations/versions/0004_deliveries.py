"""Deliveries: callbacks and chat notifications as rows any worker sends and retries; notify lists on jobs and
batches, and the gateway's callback format on batches.

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

# (name, type, nullable) of each new table's columns, in table order
DELIVERIES = (
    ('id', sa.String(length=40), False), ('owner', sa.String(length=64), False),
    ('subject_id', sa.String(length=40), False), ('kind', sa.String(length=40), False),
    ('event', sa.String(length=40), False), ('url', sa.Text(), False), ('body', sa.Text(), False),
    ('status', sa.String(length=16), False), ('attempts', sa.Integer(), False),
    ('round_attempts', sa.Integer(), False), ('next_attempt_at', sa.DateTime(), True),
    ('lease_owner', sa.String(length=80), True), ('lease_expires_at', sa.DateTime(), True),
    ('created_at', sa.DateTime(), False),
)
ATTEMPTS = (
    ('delivery_id', sa.String(length=40), False), ('number', sa.Integer(), False), ('at', sa.DateTime(), False),
    ('status_code', sa.Integer(), True), ('error', sa.Text(), True), ('duration_ms', sa.Integer(), True),
)


def upgrade() -> None:
    op.create_table('deliveries', *(sa.Column(name, kind, nullable=null) for name, kind, null in DELIVERIES),
                    sa.PrimaryKeyConstraint('id'),
                    sa.UniqueConstraint('subject_id', 'event', 'kind', name='uq_deliveries_subject_event_kind'))
    op.create_index('ix_deliveries_due', 'deliveries', ['status', 'next_attempt_at'])
    op.create_index('ix_deliveries_subject_id', 'deliveries', ['subject_id'])
    op.create_table('delivery_attempts', sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
                    *(sa.Column(name, kind, nullable=null) for name, kind, null in ATTEMPTS),
                    sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], ondelete='CASCADE'),
                    sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_delivery_attempts_delivery_id', 'delivery_attempts', ['delivery_id'])
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notify', sa.JSON(), nullable=True))
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('callback_format', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('notify', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('batches', schema=None) as batch_op:
        batch_op.drop_column('notify')
        batch_op.drop_column('callback_format')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('notify')
    op.drop_index('ix_delivery_attempts_delivery_id', 'delivery_attempts')
    op.drop_table('delivery_attempts')
    op.drop_index('ix_deliveries_subject_id', 'deliveries')
    op.drop_index('ix_deliveries_due', 'deliveries')
    op.drop_table('deliveries')
