"""What the privacy module's own tables hold about a person (the privacy registry).

An erasure record keeps the account's id and identifiers only while the erasure runs; the
engine clears them in its last step (this rule), together with the users row.
"""

from __future__ import annotations

from voxbase.core.privacy import DELETE, NULL, Pseudonymise, Retention, registry
from voxbase.privacy.export_models import DataExport
from voxbase.privacy.models import ConsentRecord, ErasureRecord, PurgeRun, RetentionOverride

# Erased with the person: once nobody is processed, there is no consent left to prove.
registry.table(ConsentRecord, subject="user_id", export="consents", erase=DELETE)

registry.table(
    ErasureRecord,
    subject="user_id",
    refs="requested_by",
    mentions="identifiers",
    erase=Pseudonymise(
        "the record that an erasure happened is kept to show it was done (GDPR Art. 5(2), 17)",
        columns={"user_id": NULL, "identifiers": NULL},
    ),
    retention=Retention("erasure_records", where={"status": "done"}),
)

# GDPR export requests and their archives (export.py): the archive is deleted with the row,
# on erase and once the download link's period (policy `exports`) is over.
registry.table(
    DataExport,
    subject=("user_id", "open_user_id"),
    export="data_exports",
    exclude=("open_user_id", "storage_key"),
    erase=DELETE,
    retention=Retention("exports", after="finished_at"),
    files="storage_key",
)

# Retention purges (purge.py): what an administrator set, and what each purge removed. The
# purge itself trims its runs after the `purge_runs` period.
registry.no_personal_data(RetentionOverride, "a policy's period; who set it is in the audit log")
registry.no_personal_data(PurgeRun, "table names, cutoffs and row counts of retention purges")
