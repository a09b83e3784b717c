"""Payment credits per year of the plan, and links between companies forming one single undertaking

ledger_accounts.credit_cents: the payment credits (CP) voted for a year; what the year pays never exceeds
them (CHECK), NULL meaning not voted yet (uncapped). undertaking_links: two SIRENs declared linked; the
single undertaking of de minimis is the group of SIRENs connected by links.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 01:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('ledger_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('credit_cents', sa.BigInteger(), nullable=True))
        batch_op.create_check_constraint(
            op.f('ck_ledger_accounts_within_credits'), "credit_cents IS NULL OR (kind = 'year' AND credit_cents >= 0 AND paid_cents <= credit_cents)")
    op.create_table('undertaking_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('siren', sa.String(length=9), nullable=False),
    sa.Column('linked_siren', sa.String(length=9), nullable=False),
    sa.Column('relation', sa.String(length=200), nullable=False),
    sa.Column('declared_by_id', sa.Integer(), nullable=True),
    sa.Column('organisation_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('siren < linked_siren', name=op.f('ck_undertaking_links_ordered_pair')),
    sa.ForeignKeyConstraint(['declared_by_id'], ['users.id'], name=op.f('fk_undertaking_links_declared_by_id_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['organisation_id'], ['organisations.id'], name=op.f('fk_undertaking_links_organisation_id_organisations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_undertaking_links')),
    sa.UniqueConstraint('siren', 'linked_siren', name='uq_undertaking_links_pair')
    )
    with op.batch_alter_table('undertaking_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_undertaking_links_linked_siren'), ['linked_siren'], unique=False)


def downgrade():
    with op.batch_alter_table('undertaking_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_undertaking_links_linked_siren'))
    op.drop_table('undertaking_links')
    with op.batch_alter_table('ledger_accounts', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_ledger_accounts_within_credits'), type_='check')
        batch_op.drop_column('credit_cents')
