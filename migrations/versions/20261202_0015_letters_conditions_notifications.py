"""letter texts for the receipt and the ineligibility letter; conditions of a
committee approval; notifications keyed by their job (a retried job mails once)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 01:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

OLD_KINDS = "kind IN ('decision_approval', 'decision_refusal', 'agreement')"
NEW_KINDS = "kind IN ('decision_approval', 'decision_refusal', 'agreement', 'receipt', 'ineligibility')"
OLD_MAIL = "mail_status IN ('sent', 'digest_pending', 'digested', 'skipped')"
NEW_MAIL = "mail_status IN ('queued', 'sent', 'digest_pending', 'digested', 'skipped')"


def upgrade():
    with op.batch_alter_table('letter_templates', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_letter_templates_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_letter_templates_kind'), NEW_KINDS)

    with op.batch_alter_table('agenda_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('conditions', sa.Text(), nullable=True))

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('job_key', sa.String(length=40), nullable=True))
        batch_op.drop_constraint(op.f('ck_notifications_mail_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_notifications_mail_status'), NEW_MAIL)
        batch_op.create_unique_constraint('uq_notifications_user_job_key', ['user_id', 'job_key'])


def downgrade():
    # Rows the old constraints refuse: a mail never sent is recorded as skipped,
    # the new kinds of letter text fall back to the default text.
    op.execute("UPDATE notifications SET mail_status = 'skipped' WHERE mail_status = 'queued'")
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint('uq_notifications_user_job_key', type_='unique')
        batch_op.drop_constraint(op.f('ck_notifications_mail_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_notifications_mail_status'), OLD_MAIL)
        batch_op.drop_column('job_key')

    with op.batch_alter_table('agenda_items', schema=None) as batch_op:
        batch_op.drop_column('conditions')

    op.execute("DELETE FROM letter_templates WHERE kind IN ('receipt', 'ineligibility')")
    with op.batch_alter_table('letter_templates', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_letter_templates_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_letter_templates_kind'), OLD_KINDS)
