"""Initial schema: templates, audio, batches, jobs, idempotency keys, workers.

Revision ID: 0001
Revises: 
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None

# (name, type, nullable) of each table's columns, in table order
AUDIO = (
    ('id', sa.String(length=40), False), ('owner', sa.String(length=64), False),
    ('key', sa.String(length=200), False), ('size_bytes', sa.Integer(), False), ('duration_s', sa.Float(), True),
    ('filename', sa.String(length=255), True), ('created_at', sa.DateTime(), False),
)
BATCHES = (
    ('id', sa.String(length=40), False), ('owner', sa.String(length=64), False),
    ('audio_id', sa.String(length=40), True), ('audio_url', sa.Text(), True), ('metadata', sa.JSON(), True),
    ('callback_url', sa.Text(), True), ('created_at', sa.DateTime(), False),
)
IDEMPOTENCY_KEYS = (
    ('owner', sa.String(length=64), False), ('key', sa.String(length=255), False),
    ('operation', sa.String(length=32), False), ('request_hash', sa.String(length=64), False),
    ('resource_id', sa.String(length=40), False), ('created_at', sa.DateTime(), False),
)
TEMPLATES = (
    ('id', sa.String(length=40), False), ('owner', sa.String(length=64), False),
    ('name', sa.String(length=200), False), ('status', sa.String(length=16), False),
    ('source_key', sa.String(length=200), True), ('source_url', sa.Text(), True),
    ('size_bytes', sa.Integer(), True), ('content_hash', sa.String(length=64), True), ('facts', sa.JSON(), True),
    ('thumbnail_key', sa.String(length=200), True), ('prepared_on', sa.String(length=200), True),
    ('error_code', sa.String(length=64), True), ('error_message', sa.Text(), True),
    ('created_at', sa.DateTime(), False), ('updated_at', sa.DateTime(), False),
)
WORKERS = (
    ('id', sa.String(length=80), False), ('hostname', sa.String(length=200), False), ('pid', sa.Integer(), False),
    ('queue', sa.String(length=120), False), ('started_at', sa.DateTime(), False),
    ('heartbeat_at', sa.DateTime(), False),
)
JOBS = (
    ('id', sa.String(length=40), False), ('kind', sa.String(length=16), False),
    ('owner', sa.String(length=64), False), ('status', sa.String(length=16), False),
    ('template_id', sa.String(length=40), True), ('audio_id', sa.String(length=40), True),
    ('audio_url', sa.Text(), True), ('batch_id', sa.String(length=40), True), ('options', sa.JSON(), False),
    ('metadata', sa.JSON(), True), ('callback_url', sa.Text(), True), ('progress', sa.Float(), False),
    ('stage', sa.String(length=32), True), ('attempts', sa.Integer(), False), ('max_attempts', sa.Integer(), False),
    ('lease_owner', sa.String(length=80), True), ('lease_expires_at', sa.DateTime(), True),
    ('cancel_requested', sa.Boolean(), False), ('error_code', sa.String(length=64), True),
    ('error_message', sa.Text(), True), ('result', sa.JSON(), True), ('created_at', sa.DateTime(), False),
    ('started_at', sa.DateTime(), True), ('finished_at', sa.DateTime(), True), ('enqueued_at', sa.DateTime(), True),
    ('queue', sa.String(length=120), True),
)
OWNED = ('audio', 'batches', 'templates')  # tables with an index on owner
JOB_INDEXES = (('ix_jobs_batch_id', ['batch_id']), ('ix_jobs_template_id', ['template_id']),
               ('ix_jobs_owner_kind_created', ['owner', 'kind', 'created_at', 'id']),
               ('ix_jobs_status_lease', ['status', 'lease_expires_at']))


def _columns(table: tuple) -> list[sa.Column]:
    return [sa.Column(name, kind, nullable=null) for name, kind, null in table]


def upgrade() -> None:
    for name, table in (('audio', AUDIO), ('batches', BATCHES), ('templates', TEMPLATES), ('workers', WORKERS)):
        op.create_table(name, *_columns(table), sa.PrimaryKeyConstraint('id'))
    op.create_table('idempotency_keys', *_columns(IDEMPOTENCY_KEYS), sa.PrimaryKeyConstraint('owner', 'key'))
    op.create_table('jobs', *_columns(JOBS), sa.ForeignKeyConstraint(['batch_id'], ['batches.id']),
                    sa.PrimaryKeyConstraint('id'))
    for table in OWNED:
        op.create_index(f'ix_{table}_owner', table, ['owner'])
    for index, columns in JOB_INDEXES:
        op.create_index(index, 'jobs', columns)


def downgrade() -> None:
    for index, _columns in JOB_INDEXES:
        op.drop_index(index, 'jobs')
    for table in OWNED:
        op.drop_index(f'ix_{table}_owner', table)
    for table in ('jobs', 'workers', 'templates', 'idempotency_keys', 'batches', 'audio'):
        op.drop_table(table)
