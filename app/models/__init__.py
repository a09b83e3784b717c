"""All models, imported here so Alembic and the app see the whole metadata."""

from app.models.application import Application, ReferenceCounter
from app.models.audit import GENESIS_HASH, AuditEntry, AuditPurgeAllowed
from app.models.base import Base, UTCDateTime, utcnow
from app.models.call import CALL_STATUSES, Axis, Call, Plan
from app.models.committee import (AgendaItem, Attendance, Committee, CommitteeMember, CommitteeSession,
                                  InterestDeclaration, Vote, Withdrawal)
from app.models.eligibility import EligibilityDecision, EligibilityResult
from app.models.followup import SCAN_STATUSES, AnswerRevision, Attachment, ClockPause, CorrectionRequest, Document, Message
from app.models.finance import FUNDERS, PAYMENT_REQUEST_KINDS, PAYMENT_REQUEST_STATUSES, Agreement, CoFinancing, PaymentRequest
from app.models.form import FormVersion
from app.models.instruction import REVIEWER_ROLES, Annotation, ConflictDeclaration, ExpertInvitation, SavedView
from app.models.letters import EXPORT_STATUSES, LETTER_KINDS, ExportJob, LetterTemplate
from app.models.ledger import ACCOUNT_KINDS, LEDGER_OPERATIONS, LEG_FIELDS, PAYMENT_KINDS, LedgerAccount, LedgerEntry, LedgerLeg, UndertakingLink
from app.models.notification import NOTIFICATION_MODES, Notification, NotificationPreference
from app.models.organisation import GRAND_EST_DEPARTMENTS, Membership, Organisation, OrganisationInvitation
from app.models.review import EXPENSE_DECISIONS, REVIEW_STATUSES, InstructionReport, Review
from app.models.token import TOKEN_SCOPES, ApiToken
from app.models.user import FILE_READING_ROLES, ROLE_VALUES, Role, RoleAssignment, User
from app.models.workflow import WorkflowVersion

__all__ = [
    "Agreement",
    "CoFinancing",
    "FUNDERS",
    "PAYMENT_REQUEST_KINDS",
    "PAYMENT_REQUEST_STATUSES",
    "PaymentRequest",
    "Annotation",
    "ConflictDeclaration",
    "ExpertInvitation",
    "REVIEWER_ROLES",
    "SavedView",
    "EXPENSE_DECISIONS",
    "REVIEW_STATUSES",
    "InstructionReport",
    "Review",
    "AgendaItem",
    "Attendance",
    "Committee",
    "CommitteeMember",
    "CommitteeSession",
    "InterestDeclaration",
    "Vote",
    "Withdrawal",
    "EXPORT_STATUSES",
    "ExportJob",
    "LETTER_KINDS",
    "LetterTemplate",
    "NOTIFICATION_MODES",
    "Notification",
    "NotificationPreference",
    "AnswerRevision",
    "EligibilityDecision",
    "EligibilityResult",
    "ClockPause",
    "Attachment",
    "CorrectionRequest",
    "Document",
    "FormVersion",
    "ACCOUNT_KINDS",
    "LEDGER_OPERATIONS",
    "LEG_FIELDS",
    "LedgerAccount",
    "UndertakingLink",
    "LedgerEntry",
    "LedgerLeg",
    "PAYMENT_KINDS",
    "Message",
    "OrganisationInvitation",
    "SCAN_STATUSES",
    "WorkflowVersion",
    "Application",
    "ApiToken",
    "AuditEntry",
    "AuditPurgeAllowed",
    "Axis",
    "Base",
    "CALL_STATUSES",
    "Call",
    "FILE_READING_ROLES",
    "GENESIS_HASH",
    "GRAND_EST_DEPARTMENTS",
    "Membership",
    "Organisation",
    "Plan",
    "ROLE_VALUES",
    "ReferenceCounter",
    "Role",
    "RoleAssignment",
    "TOKEN_SCOPES",
    "User",
    "UTCDateTime",
    "utcnow",
]
