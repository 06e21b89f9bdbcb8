"""Process infrastructure shared by the three commands and the libraries they run.

`signals`: SIGTERM as a KeyboardInterrupt, the processes a run started stopped with it, and a
fork server whose workers ignore Ctrl-C. `logs`: the one-line log format of every command.
Nothing here knows about BIDS, models or reports.
"""
