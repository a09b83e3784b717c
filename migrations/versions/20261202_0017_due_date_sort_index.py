"""applications: the due-date index carries the id, so the workspace's sort by due date (due_date, id)
reads its first page from the index instead of sorting every matching file

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 01:30:00

"""
from alembic import op


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.create_index('ix_applications_due_date_id', ['due_date', 'id'], unique=False)
        batch_op.drop_index('ix_applications_due_date')


def downgrade():
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.create_index('ix_applications_due_date', ['due_date'], unique=False)
        batch_op.drop_index('ix_applications_due_date_id')
