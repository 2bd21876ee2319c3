"""The demo's data: regions, staff, teams, product areas, customers and conversation scripts.

Everything here is plain data; :mod:`caseline.demo.seed` turns it into rows through the
services. Customer domains use the reserved ``.example`` top-level domain (RFC 2606), so
a demo configured with a real SMTP server can never mail a real company.

Conversation scripts are templates filled with per-ticket details (versions, hostnames,
error codes, job ids...). Placeholders: ``{first}`` the requester's first name, ``{agent}``
the agent's first name, ``{sme}`` the expert's first name, ``{org}`` the customer, and the
keys of :data:`DETAILS`.
"""

from __future__ import annotations

DEMO_DOMAIN = "caseline.demo"
DEMO_PASSWORD = "caseline-demo"
ADMIN_EMAIL = f"admin@{DEMO_DOMAIN}"

# Mailboxes (name, address, team): the demo's `caseline smtpd` accepts mail for them.
MAILBOXES = [
    ("Support", f"support@{DEMO_DOMAIN}", "Storage L2"),
    ("EMEA support", f"emea@{DEMO_DOMAIN}", "EMEA support"),
]
DEMO_SMTP_PORT = 2525

# --- regions ----------------------------------------------------------------------------

REGIONS = [
    # code, name, time zone, shift calendar, position in the follow-the-sun chain
    ("APAC", "Asia-Pacific", "Asia/Singapore", "apac-business", 1),
    ("EMEA", "Europe, Middle East and Africa", "Europe/Berlin", "emea-business", 2),
    ("AMER", "Americas", "America/New_York", "amer-business", 3),
]
REGION_TZ = {code: tz for code, _, tz, _, _ in REGIONS}

# --- product areas ----------------------------------------------------------------------

PRODUCT_AREAS = [
    # name, keywords, owning team
    (
        "Replication",
        "replication, replica, replication lag, failover, failback, consistency group, rpo",
        "Storage L2",
    ),
    (
        "Backup & Restore",
        "backup, restore, retention, snapshot, vault, backup job, immutable",
        "Storage L2",
    ),
    (
        "Billing",
        "invoice, billing, refund, credit card, subscription, vat, purchase order, charged",
        "Billing desk",
    ),
    (
        "Identity & SSO",
        "sso, saml, okta, entra, azure ad, mfa, scim, login, single sign-on",
        "EMEA support",
    ),
    (
        "Networking",
        "vpn, dns, tls, certificate, firewall, proxy, latency, packet loss, mtu",
        "APAC support",
    ),
    (
        "Reporting",
        "report, dashboard, export, csv, scheduled report, chart, pdf",
        "APAC support",
    ),
]

# --- staff ------------------------------------------------------------------------------
# email local part, display name, region, roles, skills (product area names)

SE = "support_engineer"
SC = "sales_consultant"
CSM = "customer_success_manager"
LEAD = "lead"
SUPPORT_MANAGER = "support_manager"
ESCALATION_MANAGER = "escalation_manager"
INCIDENT_MANAGER = "incident_manager"
EXECUTIVE = "executive"
ADMIN = "admin"

STAFF = [
    ("admin", "Caseline Admin", "EMEA", [ADMIN], []),
    ("margaret.okafor", "Margaret Okafor", "AMER", [EXECUTIVE], []),
    ("lena.hoffmann", "Lena Hoffmann", "EMEA", [SUPPORT_MANAGER], []),
    ("rahul.mehta", "Rahul Mehta", "APAC", [ESCALATION_MANAGER], []),
    ("tomasz.nowak", "Tomasz Nowak", "EMEA", [INCIDENT_MANAGER], []),
    # leads (also work tickets)
    ("priya.natarajan", "Priya Natarajan", "AMER", [LEAD, SE], ["Replication", "Backup & Restore"]),
    ("jonas.lindqvist", "Jonas Lindqvist", "EMEA", [LEAD, SE], ["Identity & SSO", "Reporting"]),
    ("mei.lin.tan", "Mei Lin Tan", "APAC", [LEAD, SE], ["Networking", "Reporting"]),
    ("carlos.rivera", "Carlos Rivera", "AMER", [LEAD, SE], ["Billing"]),
    # support engineers
    ("sam.carter", "Sam Carter", "AMER", [SE], ["Replication", "Backup & Restore", "Networking"]),
    ("aisha.bello", "Aisha Bello", "AMER", [SE], ["Backup & Restore", "Replication"]),
    ("diego.alvarez", "Diego Alvarez", "AMER", [SE], ["Replication", "Reporting"]),
    ("grace.kim", "Grace Kim", "AMER", [SE], ["Billing", "Reporting"]),
    ("noah.fischer", "Noah Fischer", "EMEA", [SE], ["Identity & SSO", "Networking"]),
    ("elif.yilmaz", "Elif Yilmaz", "EMEA", [SE], ["Identity & SSO", "Reporting", "Billing"]),
    ("pierre.dubois", "Pierre Dubois", "EMEA", [SE], ["Backup & Restore", "Identity & SSO"]),
    ("kenji.watanabe", "Kenji Watanabe", "APAC", [SE], ["Networking", "Replication"]),
    ("ananya.iyer", "Ananya Iyer", "APAC", [SE], ["Networking", "Reporting", "Identity & SSO"]),
    ("liam.oconnor", "Liam O'Connor", "APAC", [SE], ["Reporting", "Networking"]),
    # account side
    ("olivia.grant", "Olivia Grant", "AMER", [SC], []),
    ("matteo.ricci", "Matteo Ricci", "EMEA", [SC], []),
    ("hana.sato", "Hana Sato", "APAC", [SC], []),
    ("ben.adeyemi", "Ben Adeyemi", "AMER", [CSM], []),
    ("sofia.marquez", "Sofia Marquez", "EMEA", [CSM], []),
    ("arjun.rao", "Arjun Rao", "APAC", [CSM], []),
]

# Printed by `caseline demo` as ready-made logins (same password as the admin).
NAMED_LOGINS = [
    ("sam.carter", "support engineer, Storage L2 (AMER)"),
    ("lena.hoffmann", "support manager (EMEA)"),
    ("olivia.grant", "sales consultant (AMER)"),
]

TEAMS = [
    # name, region, lead, members, strategy
    (
        "Storage L2",
        "AMER",
        "priya.natarajan",
        [
            "priya.natarajan",
            "sam.carter",
            "aisha.bello",
            "diego.alvarez",
            "kenji.watanabe",
            "pierre.dubois",
        ],
        "least_load",
    ),
    (
        "EMEA support",
        "EMEA",
        "jonas.lindqvist",
        ["jonas.lindqvist", "noah.fischer", "elif.yilmaz", "pierre.dubois"],
        "round_robin",
    ),
    (
        "APAC support",
        "APAC",
        "mei.lin.tan",
        ["mei.lin.tan", "kenji.watanabe", "ananya.iyer", "liam.oconnor"],
        "round_robin",
    ),
    (
        "Billing desk",
        "AMER",
        "carlos.rivera",
        ["carlos.rivera", "grace.kim", "elif.yilmaz"],
        "least_load",
    ),
]

# SME roster per product area: primary first, then backups.
SME_ROSTERS = {
    "Replication": ["priya.natarajan", "kenji.watanabe", "diego.alvarez"],
    "Backup & Restore": ["aisha.bello", "pierre.dubois", "sam.carter"],
    "Billing": ["carlos.rivera", "grace.kim"],
    "Identity & SSO": ["noah.fischer", "jonas.lindqvist", "ananya.iyer"],
    "Networking": ["kenji.watanabe", "sam.carter", "noah.fischer"],
    "Reporting": ["liam.oconnor", "elif.yilmaz", "mei.lin.tan"],
}

# --- customers --------------------------------------------------------------------------
# name, domains, tier, entitlement, region, stage, SC, CSM, contacts
# contact: (name, local part, title, phone)

ORGANIZATIONS = [
    (
        "Northwind Logistics",
        ["northwind-logistics.example", "nwl.example"],
        "enterprise",
        "enterprise-24x7",
        "AMER",
        "adopting",
        "olivia.grant",
        "ben.adeyemi",
        [
            ("Karen Whitaker", "karen.whitaker", "Director of IT Operations", "+1 312 555 0142"),
            ("Marcus Bell", "marcus.bell", "Storage Administrator", "+1 312 555 0178"),
            ("Jasmine Ortiz", "jasmine.ortiz", "Site Reliability Engineer", "+1 312 555 0119"),
            ("Derek Chu", "derek.chu", "Infrastructure Architect", "+1 312 555 0163"),
            ("Paula Jensen", "paula.jensen", "Accounts Payable Lead", "+1 312 555 0101"),
            ("Victor Hale", "victor.hale", "CTO", "+1 312 555 0100"),
        ],
    ),
    (
        "Helios Energie GmbH",
        ["helios-energie.example"],
        "enterprise",
        "enterprise-24x7",
        "EMEA",
        "renewing",
        "matteo.ricci",
        "sofia.marquez",
        [
            ("Katrin Vogel", "k.vogel", "Leiterin IT-Betrieb", "+49 89 5550 2210"),
            ("Stefan Braun", "s.braun", "Backup Administrator", "+49 89 5550 2234"),
            ("Ayse Demir", "a.demir", "Identity Engineer", "+49 89 5550 2251"),
            ("Florian Maier", "f.maier", "Network Engineer", "+49 89 5550 2277"),
            ("Ute Schneider", "u.schneider", "Finance Controller", "+49 89 5550 2203"),
        ],
    ),
    (
        "Kestrel Health",
        ["kestrelhealth.example"],
        "premium",
        "premium-business",
        "AMER",
        "onboarding",
        "olivia.grant",
        "ben.adeyemi",
        [
            ("Dr. Nina Patel", "nina.patel", "CIO", "+1 617 555 0190"),
            ("Owen Brooks", "owen.brooks", "Systems Engineer", "+1 617 555 0133"),
            ("Tanya Reyes", "tanya.reyes", "IAM Analyst", "+1 617 555 0147"),
            ("Greg Sullivan", "greg.sullivan", "Data Protection Lead", "+1 617 555 0155"),
            ("Lisa Moreau", "lisa.moreau", "Reporting Analyst", "+1 617 555 0161"),
        ],
    ),
    (
        "Tidewater Bank",
        ["tidewaterbank.example", "tidewater-bank.example"],
        "enterprise",
        "enterprise-24x7",
        "APAC",
        "adopting",
        "hana.sato",
        "arjun.rao",
        [
            ("Wei Jie Lim", "weijie.lim", "Head of Infrastructure", "+65 6555 0131"),
            ("Siti Rahman", "siti.rahman", "Storage Engineer", "+65 6555 0148"),
            ("Rajesh Kumar", "rajesh.kumar", "Network Security Lead", "+65 6555 0172"),
            ("Grace Ong", "grace.ong", "Risk & Compliance Officer", "+65 6555 0105"),
            ("Daniel Goh", "daniel.goh", "DBA", "+65 6555 0186"),
        ],
    ),
    (
        "Brightline Media",
        ["brightline-media.example"],
        "standard",
        "standard-business",
        "EMEA",
        "adopting",
        "matteo.ricci",
        "sofia.marquez",
        [
            ("Chloe Martin", "chloe.martin", "IT Manager", "+44 20 7946 0812"),
            ("Harry Walsh", "harry.walsh", "Systems Administrator", "+44 20 7946 0835"),
            ("Amara Okonkwo", "amara.okonkwo", "Finance Manager", "+44 20 7946 0859"),
            ("Jack Turner", "jack.turner", "Video Platform Engineer", "+44 20 7946 0877"),
            ("Isla Reid", "isla.reid", "Analytics Lead", "+44 20 7946 0893"),
        ],
    ),
    (
        "Quokka Retail",
        ["quokkaretail.example"],
        "standard",
        "standard-business",
        "APAC",
        "onboarding",
        "hana.sato",
        "arjun.rao",
        [
            ("Mia Thompson", "mia.thompson", "Head of Technology", "+61 2 5550 1183"),
            ("Lachlan Wright", "lachlan.wright", "Store Systems Engineer", "+61 2 5550 1127"),
            ("Priyanka Shah", "priyanka.shah", "BI Developer", "+61 2 5550 1164"),
            ("Tom Nguyen", "tom.nguyen", "Network Administrator", "+61 2 5550 1149"),
        ],
    ),
    (
        "Fernwood University",
        ["fernwood-university.example"],
        "basic",
        "basic",
        "AMER",
        "renewing",
        "olivia.grant",
        "ben.adeyemi",
        [
            (
                "Prof. Alan Fraser",
                "alan.fraser",
                "Director of Research Computing",
                "+1 503 555 0122",
            ),
            ("Becky Lawson", "becky.lawson", "Help Desk Coordinator", "+1 503 555 0139"),
            ("Sanjay Gupta", "sanjay.gupta", "Identity Services", "+1 503 555 0151"),
            ("Emily Carr", "emily.carr", "Procurement Officer", "+1 503 555 0108"),
            ("Ryan Park", "ryan.park", "Linux Administrator", "+1 503 555 0170"),
        ],
    ),
    (
        "Atlas Freight B.V.",
        ["atlasfreight.example"],
        "premium",
        "premium-business",
        "EMEA",
        "churned",
        "matteo.ricci",
        "sofia.marquez",
        [
            ("Joost de Vries", "joost.devries", "IT Lead", "+31 10 555 0144"),
            ("Sanne Bakker", "sanne.bakker", "Administrator", "+31 10 555 0121"),
            ("Pieter Smit", "pieter.smit", "Finance", "+31 10 555 0109"),
            ("Lotte Visser", "lotte.visser", "Operations Analyst", "+31 10 555 0166"),
        ],
    ),
]

# --- triage rules and custom fields ------------------------------------------------------

TRIAGE_RULES = [
    # name, position, conditions, actions
    (
        "Data loss or outage is Sev-1",
        10,
        {"keywords": "data loss, outage, production down, all users down, corrupted"},
        {"set_severity": 1, "set_priority": "urgent"},
    ),
    (
        "Enterprise accounts get high priority",
        20,
        {"tier": "enterprise"},
        {"set_priority": "high"},
    ),
    (
        "Invoices go to the Billing desk",
        30,
        {"keywords": "invoice, refund, charged twice, purchase order"},
        {"set_product_area": "Billing", "set_team": "Billing desk"},
    ),
    (
        "Phone calls are at least Sev-2",
        40,
        {"channel": "phone"},
        {"set_severity": 2},
    ),
]

CUSTOM_FIELDS = [
    # key, label, type, choices
    ("environment", "Environment", "choice", ["prod", "staging", "dev"]),
    ("version", "Product version", "text", []),
    ("affected_users", "Affected users", "number", []),
    ("go_live", "Go-live date", "date", []),
]

# --- ticket details ---------------------------------------------------------------------

DETAILS = {
    "version": ["7.2.4", "7.3.0", "7.3.1", "7.4.0", "7.4.2", "8.0.1", "8.0.3", "8.1.0"],
    "fixed": ["7.4.3", "8.0.4", "8.1.1", "8.1.2"],
    "host": [
        "stor-prd-01",
        "stor-prd-07",
        "bkp-node-03",
        "repl-east-2",
        "repl-west-1",
        "gw-dmz-02",
        "app-core-11",
        "vault-02",
        "edge-sg-04",
        "fra-stor-09",
    ],
    "code": ["E1042", "E2207", "E3310", "E4015", "E5121", "W0318", "E6604", "E7002"],
    "job": ["nightly-full", "sql-logs-15min", "vm-daily", "fileshare-weekly", "erp-hourly"],
    "volume": ["vol-finance", "vol-erp-data", "vol-home", "vol-vmstore-02", "vol-archive"],
    "invoice": ["INV-2026-0412", "INV-2026-0587", "INV-2026-0733", "INV-2026-0918"],
    "amount": ["1,240.00", "3,480.50", "12,900.00", "860.25", "5,125.00"],
    "idp": ["Okta", "Entra ID", "Ping Identity", "Google Workspace", "Keycloak"],
    "report": ["Capacity trend", "Job success rate", "SLA compliance", "Storage growth by tenant"],
    "gb": ["120", "480", "950", "1,800", "3,200"],
    "lag": ["14", "37", "55", "90", "140"],
    "users": ["35", "120", "400", "1,200"],
    "po": ["PO-884120", "PO-885311", "PO-886907", "PO-887245"],
    "ticketref": ["ENG-4412", "ENG-4527", "ENG-4603", "ENG-4719"],
}

ACKS = [
    "Hi {first},\n\nthanks for reaching out. I've picked this up and I'm looking at it now. "
    "I'll come back to you within the hour with a first assessment.\n\nBest,\n{agent}",
    "Hello {first},\n\nthank you for the details, that helps. I'm reviewing the logs you "
    "mentioned and will update you shortly.\n\nKind regards,\n{agent}",
    "Hi {first},\n\nI'm on it. Could you keep the current state as-is for now (no restarts) "
    "so we don't lose diagnostic information? I'll update you soon.\n\nThanks,\n{agent}",
]

THANKS = [
    "That did it, thank you {agent}! Everything looks normal again on our side.",
    "Confirmed fixed here. Thanks for the quick turnaround.",
    "Works now. Appreciate the clear explanation, we've added it to our runbook.",
    "All good since yesterday evening. You can close this one.",
]

NUDGES = [
    "Any update on this? It's starting to block the team.",
    "Adding a data point: it happened again this morning at 07:40 local time.",
    "Just checking in - is there anything else you need from us?",
]

ON_HOLD_NOTES = [
    "Engineering confirmed this is a defect ({ticketref}); fix targeted for {fixed}. "
    "Putting the ticket on hold until the release, customer has the workaround.",
    "Waiting on the vendor's firmware advisory ({ticketref}). On hold, reminder set.",
]

# Each script: subject, question, internal note by the expert, actionable answer,
# customer follow-up, severity if not set by triage, tags, custom field values.
SCRIPTS: dict[str, list[dict]] = {
    "Replication": [
        {
            "subject": "Replication lag on {volume} keeps growing ({lag} min)",
            "question": "Hi,\n\nsince the upgrade to {version} the replication lag for {volume} "
            "from {host} to our DR site keeps growing. It's at {lag} minutes now and our RPO is "
            "15 minutes. Bandwidth on the link looks fine (under 40% utilised). Can you help?\n\n"
            "Thanks,\n{first}",
            "note": "Looked at the support bundle: the consistency group is stuck in "
            "'resync-pending' after the upgrade, so every cycle ships full deltas. Known "
            "issue in {version} when a volume was resized during the upgrade window. Workaround: "
            "pause/resume the CG, then force a checkpoint. {sme}",
            "answer": "Hi {first},\n\nwe found the cause: after the upgrade the consistency "
            "group for {volume} stayed in a resync state, so each cycle transfers far more "
            "than it needs to. Please run:\n\n  replctl cg pause {volume}\n  replctl cg resume "
            "{volume} --checkpoint\n\nThe lag should fall below 5 minutes within about two cycles. "
            "The permanent fix ships in {fixed}.\n\nBest,\n{agent}",
            "severity": 2,
            "tags": ["replication", "rpo"],
        },
        {
            "subject": "Failover test failed with {code} on {host}",
            "question": "Hello support,\n\nduring our quarterly DR test the planned failover of "
            "{host} aborted with error {code} ('target not promotable'). We rolled back, "
            "production is fine, but we have to repeat the test this week. Version {version}.\n\n"
            "Regards,\n{first}",
            "note": "{code} at promote time = the target still holds a stale reservation from the "
            "previous test. Safe to clear with 'replctl target release --stale'. Make sure they "
            "run it on the DR side only. {sme}",
            "answer": "Hi {first},\n\n{code} means the DR target still held a reservation from "
            "your last test, so it refused to be promoted. On the DR side only, run "
            "'replctl target release --stale {host}', then retry the planned failover. I'd be "
            "happy to join a call during your next test window if that helps.\n\nBest,\n{agent}",
            "severity": 3,
            "tags": ["replication", "dr-test"],
        },
        {
            "subject": "Replica on {host} shows data loss after failback",
            "question": "URGENT: after failing back from DR this morning several files on "
            "{volume} are missing or zero bytes. We suspect data loss during the failback. "
            "Version {version}. We have stopped all writes to the volume.\n\n{first}",
            "note": "Checked journal: failback ran before the reverse sync finished "
            "(operator override). Files are intact on the DR snapshot from 06:00. Plan: mount "
            "the snapshot read-only and copy back; no real data loss. Paging incident mgr. {sme}",
            "answer": "Hi {first},\n\ngood news first: the missing files are intact in the DR "
            "snapshot taken at 06:00. The failback was started before the reverse "
            "synchronisation completed. Steps:\n1. mount snapshot 'dr-0600' read-only on the "
            "DR host\n2. copy the affected paths back (I've attached the list)\n3. run "
            "'replctl verify {volume}'\nI'll stay on this until you confirm.\n\n{agent}",
            "severity": 1,
            "tags": ["replication", "failback", "data-integrity"],
        },
        {
            "subject": "How do we size the link for synchronous replication?",
            "question": "Hi team,\n\nwe're planning to switch {volume} to synchronous "
            "replication between our two data centres (about 40 km apart). What bandwidth and "
            "latency do you recommend for roughly {gb} GB of daily change?\n\nThanks,\n{first}",
            "note": "Standard sizing question. For {gb} GB/day with peaks, they need ~3x average "
            "throughput and RTT under 2 ms. Sharing the sizing sheet. {sme}",
            "answer": "Hi {first},\n\nfor synchronous mode the round-trip time matters more than "
            "bandwidth: stay below 2 ms RTT (40 km of fibre is usually ~0.5 ms). For {gb} GB of "
            "daily change, plan for three times the average rate to absorb peaks. I've attached "
            "our sizing sheet with your numbers filled in.\n\nBest,\n{agent}",
            "severity": 4,
            "tags": ["replication", "how-to"],
        },
    ],
    "Backup & Restore": [
        {
            "subject": "Backup job {job} failing with {code} since {version} upgrade",
            "question": "Hi,\n\nour '{job}' backup job has failed three nights in a row with "
            "error {code} ('snapshot quiesce timeout') on {host}. Nothing changed except the "
            "upgrade to {version}. Logs attached.\n\nThanks,\n{first}",
            "note": "The quiesce timeout default dropped from 300 s to 60 s in {version}. Their "
            "SQL VSS writer needs ~150 s. Recommend setting quiesce_timeout=300 on the job. {sme}",
            "answer": "Hi {first},\n\nin {version} the default quiesce timeout went from 300 to "
            "60 seconds, and your database needs about 150 seconds to quiesce. Set it back on "
            "the job:\n\n  bkpctl job set {job} --quiesce-timeout 300\n\nand re-run it manually to "
            "confirm.\n\nRegards,\n{agent}",
            "severity": 2,
            "tags": ["backup", "upgrade"],
        },
        {
            "subject": "Restore of {volume} is extremely slow",
            "question": "Hello,\n\nwe're restoring {gb} GB from the vault to {host} and it's "
            "running at about 20 MB/s, which means days. Our network can do far more. Is there a "
            "way to speed this up? Version {version}.\n\n{first}",
            "note": "Restore runs single-stream because the target is on an old agent (pre-7.3). "
            "Parallel streams need agent >= 7.3. Upgrade the agent, restart restore with "
            "--streams 8. {sme}",
            "answer": "Hi {first},\n\nthe agent on {host} is older than 7.3, which limits restores "
            "to a single stream. After upgrading the agent, restart the restore with "
            "'--streams 8' - customers typically see 6-8x the throughput. The restore resumes "
            "from where it stopped, nothing is copied twice.\n\nBest,\n{agent}",
            "severity": 3,
            "tags": ["restore", "performance"],
        },
        {
            "subject": "Retention policy deleted snapshots too early",
            "question": "Hi,\n\nour 35-day retention policy seems to have deleted snapshots that "
            "were only 20 days old on {host}. We need those for an audit. Is this data loss? "
            "What happened?\n\n{first}",
            "note": "The policy had 'keep 20 dailies' AND '35 days'; the count rule wins. Snapshots "
            "are still in the immutable vault copy (vault-02) for 90 days. Not data loss. {sme}",
            "answer": "Hi {first},\n\nthe policy on {host} combines 'keep 20 daily snapshots' with "
            "'35 days'; when both are set the count limit wins, which is why local snapshots were "
            "pruned at 20. The good news: the immutable vault copies are kept for 90 days, so "
            "everything your audit needs can be restored from the vault. I'd suggest removing "
            "the count limit.\n\nRegards,\n{agent}",
            "severity": 2,
            "tags": ["backup", "retention", "audit"],
        },
        {
            "subject": "Can we exclude temp folders from the {job} backup?",
            "question": "Hi,\n\nquick question: our '{job}' job also backs up /tmp and the browser "
            "caches on every workstation, which wastes about {gb} GB per week. How can we "
            "exclude them?\n\nCheers,\n{first}",
            "note": "Simple exclusion rule; point them to the glob syntax doc. {sme}",
            "answer": "Hi {first},\n\nadd exclusions to the job definition:\n\n  bkpctl job set "
            "{job} --exclude '/tmp/**' --exclude '**/Cache/**'\n\nThe next run will skip them; "
            "existing copies expire with the normal retention.\n\nBest,\n{agent}",
            "severity": 4,
            "tags": ["backup", "how-to"],
        },
    ],
    "Billing": [
        {
            "subject": "We were charged twice for {invoice}",
            "question": "Hello,\n\nour credit card was charged twice for invoice {invoice} "
            "({amount} USD) on the same day. Please refund the duplicate charge.\n\nKind "
            "regards,\n{first}",
            "note": "Confirmed in the payment gateway: duplicate capture after a retry timeout. "
            "Refund issued, 5-7 business days. {sme}",
            "answer": "Hi {first},\n\nyou're right - the payment gateway captured the amount twice "
            "after a timeout. I've refunded the duplicate {amount} USD today; depending on your "
            "bank it shows within 5-7 business days. Sorry for the trouble.\n\nBest,\n{agent}",
            "severity": 3,
            "tags": ["billing", "refund"],
        },
        {
            "subject": "Invoice {invoice} needs our purchase order number",
            "question": "Hi,\n\nour accounts payable team can't process invoice {invoice} "
            "without our PO number ({po}). Could you reissue it with the PO on "
            "it?\n\nThanks,\n{first}",
            "note": "Reissue with PO; also store the PO on the account so renewals carry it. {sme}",
            "answer": "Hi {first},\n\nI've reissued {invoice} with your PO number and attached "
            "it here. I've also saved the PO on your account so future invoices carry it "
            "automatically.\n\nRegards,\n{agent}",
            "severity": 4,
            "tags": ["billing", "invoice"],
        },
        {
            "subject": "VAT ID missing on our invoices",
            "question": "Hallo,\n\nour VAT ID isn't shown on the latest invoices, so we can't "
            "reclaim the VAT. Could you add it and correct invoice {invoice}?\n\nThanks,\n{first}",
            "note": "VAT ID was in the CRM but not synced to billing. Fixed sync, reissuing. {sme}",
            "answer": "Hi {first},\n\nthe VAT ID was on file but hadn't been carried over to our "
            "billing system. It's fixed now and I've attached a corrected {invoice} with reverse "
            "charge applied.\n\nBest,\n{agent}",
            "severity": 4,
            "tags": ["billing", "vat"],
        },
        {
            "subject": "Subscription shows fewer seats than we purchased",
            "question": "Hi,\n\nwe upgraded to 250 seats last month but the admin console still "
            "shows 150 and new users are being blocked. Can you check?\n\n{first}",
            "note": "Order was booked but the entitlement job failed (payment pending flag). "
            "Cleared flag, seats now 250. {sme}",
            "answer": "Hi {first},\n\nthe upgrade was booked, but the entitlement update got stuck "
            "on a pending-payment flag. I've cleared it - your console now shows 250 seats and "
            "blocked users can sign in again.\n\nBest,\n{agent}",
            "severity": 2,
            "tags": ["billing", "subscription"],
        },
    ],
    "Identity & SSO": [
        {
            "subject": "SAML login fails with {code} after {idp} certificate rotation",
            "question": "Hi,\n\nsince this morning nobody can log in through SSO. {idp} rotated "
            "its signing certificate last night and now every login ends with {code} "
            "('signature validation failed'). Local admin accounts still work.\n\n{first}",
            "note": "They need to upload the new IdP metadata; the old cert is pinned. Also "
            "recommend enabling metadata URL refresh. {sme}",
            "answer": "Hi {first},\n\nour side still trusts the old {idp} signing certificate. "
            "Please upload the new metadata under Admin > Security > SSO (or set the metadata "
            "URL so it refreshes automatically). Logins work immediately after saving.\n\n"
            "Best,\n{agent}",
            "severity": 2,
            "tags": ["sso", "saml", "certificate"],
        },
        {
            "subject": "SCIM provisioning from {idp} creates duplicate users",
            "question": "Hello,\n\nwe enabled SCIM provisioning from {idp} and now some users "
            "exist twice - once with their old login and once with the email address. How do we "
            "clean this up and stop it?\n\nRegards,\n{first}",
            "note": "Matching attribute is userName vs email. Set SCIM match to email, run the "
            "merge script for existing duplicates. {sme}",
            "answer": "Hi {first},\n\nthe duplicates come from {idp} sending userName while your "
            "existing accounts were matched by email. Set 'Match users by' to email in the SCIM "
            "settings, then run Admin > Users > Merge duplicates (preview first). New "
            "provisioning won't create duplicates after that.\n\nBest,\n{agent}",
            "severity": 3,
            "tags": ["sso", "scim"],
        },
        {
            "subject": "MFA prompts looping for some users",
            "question": "Hi,\n\nabout {users} users report that after entering their MFA code they "
            "are sent back to the MFA prompt again and again. It's mostly people on the "
            "corporate VPN.\n\n{first}",
            "note": "VPN egress NAT changes source IP mid-session; session binding to IP is on. "
            "Suggest relaxing IP binding or adding the VPN egress range as trusted. {sme}",
            "answer": "Hi {first},\n\nthe loop happens because the VPN changes the users' "
            "public IP during login, and sessions are bound to the IP. Either add your VPN "
            "egress range under Trusted networks or switch session binding to 'subnet'. Both "
            "take effect immediately.\n\nRegards,\n{agent}",
            "severity": 3,
            "tags": ["mfa", "vpn"],
        },
        {
            "subject": "All users down: SSO outage after IdP migration",
            "question": "We migrated from our old IdP to {idp} an hour ago and now all users are "
            "down - production outage, nobody can log in. Please call me back ASAP.\n\n{first}",
            "note": "Entity ID changed with the migration; our SP still expects the old issuer. "
            "Temporary: re-enable the break-glass local login. Fix: update issuer. {sme}",
            "answer": "Hi {first},\n\nas discussed on the phone: the new IdP uses a different "
            "issuer (entity ID), which we rejected. We've re-enabled local break-glass login "
            "for your admins; please update the issuer under SSO settings to the value in the "
            "new {idp} metadata, and users can log in again.\n\n{agent}",
            "severity": 1,
            "tags": ["sso", "outage"],
        },
    ],
    "Networking": [
        {
            "subject": "TLS handshake errors from {host} after proxy change",
            "question": "Hi,\n\nafter our security team introduced a new outbound proxy, {host} "
            "fails to reach your service with 'TLS handshake failure' ({code}). Direct access "
            "works.\n\n{first}",
            "note": "Proxy does TLS inspection with their own CA; appliance doesn't trust it. "
            "Import CA bundle or bypass inspection for our endpoints. {sme}",
            "answer": "Hi {first},\n\nthe new proxy inspects TLS and presents your company's own "
            "CA, which {host} doesn't trust yet. Either import that CA via 'netctl ca import', "
            "or (recommended) exempt our endpoints from inspection. List of endpoints attached.\n\n"
            "Best,\n{agent}",
            "severity": 3,
            "tags": ["tls", "proxy"],
        },
        {
            "subject": "High latency between {host} and the cluster",
            "question": "Hello,\n\nsince Monday we see round-trip times of 80-120 ms between "
            "{host} and the storage cluster (normally under 2 ms). Applications are timing out "
            "intermittently.\n\n{first}",
            "note": "MTU mismatch: jumbo frames enabled on the new switch, not on the host "
            "bond. Fragmentation explains the latency. {sme}",
            "answer": "Hi {first},\n\nthe packet captures show fragmentation: the new switch uses "
            "jumbo frames (MTU 9000) but the bond on {host} is still at 1500. Please align the "
            "MTU on both sides (we recommend 9000 end-to-end) - latency should drop back to "
            "normal immediately.\n\nRegards,\n{agent}",
            "severity": 2,
            "tags": ["network", "latency", "mtu"],
        },
        {
            "subject": "Site-to-site VPN drops every 8 hours",
            "question": "Hi,\n\nthe VPN tunnel between our branch and the DC drops roughly every "
            "8 hours and takes a few minutes to come back. Replication to DR pauses each time.\n\n"
            "{first}",
            "note": "Phase 1 lifetime 28800 s on their side, 86400 on ours; rekey collision. "
            "Align lifetimes. {sme}",
            "answer": "Hi {first},\n\nthe drops line up with the IKE phase-1 rekey: your firewall "
            "uses 8 hours, our gateway 24 hours, and the rekey collides. Set both to the same "
            "lifetime (28800 s is fine) and the tunnel will rekey without dropping.\n\nBest,\n"
            "{agent}",
            "severity": 3,
            "tags": ["vpn"],
        },
        {
            "subject": "DNS record for the management portal",
            "question": "Hi,\n\nwhich DNS records do we need for the new management portal "
            "hostname? Our network team wants the list before the change window.\n\n{first}",
            "note": "Standard CNAME + TXT verification. {sme}",
            "answer": "Hi {first},\n\nyou need a CNAME for the portal hostname pointing to "
            "portal.caseline.example and a TXT record with the verification token shown in "
            "Admin > Domains. TTL 300 is fine during the change.\n\nRegards,\n{agent}",
            "severity": 4,
            "tags": ["dns", "how-to"],
        },
    ],
    "Reporting": [
        {
            "subject": "'{report}' report is empty since {version}",
            "question": "Hi,\n\nthe scheduled '{report}' report arrives every Monday but since the "
            "upgrade to {version} it contains only headers, no data. Our management uses it for "
            "the weekly review.\n\n{first}",
            "note": "Report query now filters on tenant tag, which their tenants don't have "
            "(migration skipped). Run 'rptctl tags backfill'. {sme}",
            "answer": "Hi {first},\n\nin {version} the '{report}' report filters by tenant tag, and "
            "the tag backfill didn't run on your system during the upgrade. Please run "
            "'rptctl tags backfill' once; the next scheduled report (and a manual run) will "
            "contain data again.\n\nBest,\n{agent}",
            "severity": 3,
            "tags": ["reporting", "upgrade"],
        },
        {
            "subject": "CSV export has wrong time zone",
            "question": "Hello,\n\nthe CSV export of job history shows timestamps in UTC while "
            "the dashboard shows local time. Our analysts keep getting confused. Can the export "
            "use our time zone?\n\n{first}",
            "note": "Export follows the API (UTC). There's a 'tz' parameter on exports since "
            "7.3. {sme}",
            "answer": "Hi {first},\n\nexports use UTC by default so they match the API, but you "
            "can choose the time zone: add '&tz=Europe/Berlin' (or your zone) to the export link, "
            "or pick it in the export dialog. The column header then names the zone.\n\n"
            "Regards,\n{agent}",
            "severity": 4,
            "tags": ["reporting", "export"],
        },
        {
            "subject": "Dashboard takes over a minute to load",
            "question": "Hi,\n\nthe capacity dashboard has become very slow - over a minute to "
            "load for our {users} tenants. It used to be a few seconds.\n\n{first}",
            "note": "Their dashboard uses 'all time' range with per-tenant breakdown; the rollup "
            "job is disabled. Re-enable rollups. {sme}",
            "answer": "Hi {first},\n\nthe hourly rollup job is disabled on your system, so the "
            "dashboard computes everything from raw samples. Re-enable it under Admin > "
            "Reporting > Rollups; after the first run the dashboard loads in seconds again.\n\n"
            "Best,\n{agent}",
            "severity": 3,
            "tags": ["reporting", "performance"],
        },
        {
            "subject": "PDF report cuts off the tenant table",
            "question": "Hello,\n\nthe PDF version of '{report}' cuts off the tenant table after "
            "the first page. The HTML version is complete.\n\n{first}",
            "note": "Known PDF renderer bug with long tables, fixed in {fixed}. {sme}",
            "answer": "Hi {first},\n\nthis is a known issue in the PDF renderer with long "
            "tables, fixed in {fixed}. Until you upgrade, use 'landscape' layout in the report "
            "settings, which keeps the table intact.\n\nRegards,\n{agent}",
            "severity": 4,
            "tags": ["reporting", "pdf"],
        },
    ],
}

# How the ~300 tickets spread over statuses (weights) and channels.
STATUS_WEIGHTS = [
    ("new", 10),
    ("open", 24),
    ("pending", 14),
    ("on_hold", 8),
    ("solved", 24),
    ("closed", 20),
]
CHANNEL_WEIGHTS = [("email", 45), ("web", 30), ("api", 8), ("phone", 10), ("chat", 7)]
