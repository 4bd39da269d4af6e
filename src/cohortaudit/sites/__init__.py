"""Multi-site audits: each data holder exports aggregates, a coordinator pools them.

* :mod:`cohortaudit.sites.export` -- what leaves a site (``cohortaudit site-export``);
* :mod:`cohortaudit.sites.pool` -- site files in, one pooled ``AuditResult`` out
  (``cohortaudit pool``);
* :mod:`cohortaudit.sites.federated` -- the federated Newton protocol for CITL and slope;
* :mod:`cohortaudit.sites.meta` -- DerSimonian-Laird random-effects meta-analysis.
"""

from __future__ import annotations

__all__ = ["export_site", "pool_site_files", "pool_sites", "read_site_file", "write_site_file"]


def __getattr__(name: str):
    if name in ("export_site", "read_site_file", "write_site_file"):
        from cohortaudit.sites import export

        return getattr(export, name)
    if name in ("pool_site_files", "pool_sites"):
        from cohortaudit.sites import pool

        return getattr(pool, name)
    raise AttributeError(name)
