"""``bids_lrp-train``'s application: settings, the checks before loading, the run.

`TrainingSettings` is the request (the command line is `bids_lrp.cli.train`), `plan_training`
checks it against the scans, labels and disk before anything is loaded or written, and
`run_training` trains one model per split and writes weights, cards, histories and curves. The
training loop itself is `bids_lrp.model.train`.
"""

from bids_lrp.training.plan import TrainingPlan, plan_training
from bids_lrp.training.run import run_training
from bids_lrp.training.settings import TrainingSettings, UsageError

__all__ = ["TrainingPlan", "TrainingSettings", "UsageError", "plan_training", "run_training"]
