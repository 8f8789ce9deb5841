"""Memorization proxies: cheap per-point scores from a few trainings, and their validation against the
ensembles."""

# the proxies by name, in table order (memgen.proxies.definitions.PROXIES defines them); here so the command
# line lists them without loading numpy
NAMES = ("learning_speed", "first_learned", "forgetting_events", "final_loss", "margin", "curvature")
