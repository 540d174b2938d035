"""`tlsfit tune`: search the knowledge base's tuning knobs, prove each candidate with a handshake,
and find the Pareto front of ROM x RAM x handshake work and the best build within a budget.

    model   plain data: Candidate, Outcome, TuneBudget (and --budget / --shard parsing)
    space   which candidates exist for a profile (deterministic, shardable)
    front   Pareto flags, budget checks and the chosen candidate (pure)
    search  evaluating candidates through the pipeline, the per-candidate cache, shards, merges
    output  tune.json, tune.md, tune.html and the chosen build as a profile
Nothing here prints; cli/tune_cmd.py does.
"""
