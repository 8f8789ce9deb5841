"""What `memgen plan` prints before anything runs: the study planner (how many members and runs a target
precision needs, from a pilot run) and the replicate planner. Serves the command line only; no stage
imports it."""
