"""HTML reports: one per participant (``<out>/sub-<l>.html``) and one for the group.

Reports are built from the derivatives alone, open offline (inline CSS, no scripts, figures by
relative path) and are written atomically, figures included.
"""

from bids_lrp.reports.group import write_group_report
from bids_lrp.reports.participant import write_participant_report

__all__ = ["write_group_report", "write_participant_report"]
