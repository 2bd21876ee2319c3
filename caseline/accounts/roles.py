"""Staff roles. Each role is a Django group; what a role may do is its permissions.

The table of who may call which endpoint lives in docs/permissions.md and is checked by
tests/api/test_permissions_matrix.py, so the table people read is the table enforced.
"""

from __future__ import annotations

SE = "support_engineer"
SC = "sales_consultant"
CSM = "customer_success_manager"
LEAD = "lead"
SUPPORT_MANAGER = "support_manager"
ESCALATION_MANAGER = "escalation_manager"
INCIDENT_MANAGER = "incident_manager"
EXECUTIVE = "executive"
ADMIN = "admin"

ROLES: dict[str, str] = {
    SE: "Support engineer",
    SC: "Sales consultant",
    CSM: "Customer success manager",
    LEAD: "Lead",
    SUPPORT_MANAGER: "Support manager",
    ESCALATION_MANAGER: "Escalation manager",
    INCIDENT_MANAGER: "Incident manager",
    EXECUTIVE: "Executive",
    ADMIN: "Admin",
}

# Caseline's own permissions (codename -> description), attached to accounts.User's Meta.
PERMISSIONS: dict[str, str] = {
    "view_all_tickets": "See every ticket",
    "create_ticket": "Create tickets on behalf of customers",
    "update_ticket": "Change ticket fields, status, assignee",
    "reply_ticket": "Add public replies",
    "add_internal_note": "Add internal notes and read them",
    "merge_ticket": "Merge and link tickets",
    "manage_organizations": "Create and change organizations",
    "manage_contacts": "Create, change and merge contacts",
    "view_directory": "See organizations, contacts, staff, teams, product areas",
    "manage_staff": "Create staff users, change roles",
    "manage_teams": "Create and change teams and product areas",
    "manage_triage": "Create and change triage rules",
    "manage_sla": "Create and change SLA calendars and policies",
    "manage_webhooks": "Create and change webhooks",
    "manage_custom_fields": "Create and change custom field definitions",
    "request_escalation": "Request an escalation (intake form) and see own requests",
    "manage_escalations": "Open, run and close escalations; accept or decline requests",
    "declare_incident": "Declare a critical incident and link tickets to incidents",
    "manage_incidents": "Run incidents: roles, status, broadcasts, status page, paging",
    "manage_postmortems": "Write post-mortems and track their action items",
}

_AGENT = {
    "request_escalation",
    "declare_incident",
    "view_all_tickets",
    "create_ticket",
    "update_ticket",
    "reply_ticket",
    "add_internal_note",
    "merge_ticket",
    "view_directory",
    "manage_contacts",
}

ROLE_PERMISSIONS: dict[str, set[str]] = {
    SE: set(_AGENT),
    SC: set(_AGENT) - {"merge_ticket"},
    CSM: (set(_AGENT) - {"merge_ticket"}) | {"manage_organizations"},
    LEAD: set(_AGENT) | {"manage_triage", "manage_teams", "manage_sla", "manage_postmortems"},
    SUPPORT_MANAGER: set(_AGENT)
    | {
        "manage_triage",
        "manage_sla",
        "manage_teams",
        "manage_organizations",
        "manage_staff",
        "manage_custom_fields",
        "manage_escalations",
        "manage_incidents",
        "manage_postmortems",
    },
    ESCALATION_MANAGER: set(_AGENT)
    | {"manage_organizations", "manage_escalations", "manage_postmortems"},
    INCIDENT_MANAGER: set(_AGENT) | {"manage_incidents", "manage_postmortems"},
    EXECUTIVE: {"view_all_tickets", "add_internal_note", "view_directory", "request_escalation"},
    ADMIN: set(PERMISSIONS),
}
