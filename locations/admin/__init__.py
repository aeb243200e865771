"""The admin a head office sets its chain up with: every row scoped to the organizations it runs.

Head office (a staff user with a head_office membership) gets the admin for its own
organizations without any Django permission to grant: the membership is the permission.
Superusers run the installation and see everything. TenantAdmin (tenancy.py) is the one
place that narrows querysets, choices and permissions; every ModelAdmin of locations/ and
surveys/ builds on it.
"""

# Importing the modules registers their ModelAdmins with the admin site.
from . import audit, import_views, kiosks, organizations, people, tenancy

__all__ = ["audit", "import_views", "kiosks", "organizations", "people", "tenancy"]
