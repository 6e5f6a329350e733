"""Parent samplers: which stored nodes the next trials start from, and which ones inspire them.

Samplers are stateful: they are fed every stored node once, in id order (`observe`), keep compact in-memory state
(numpy columns, a grid, island memberships, a Pareto front) and save it as JSON (`state_dict`) so a resumed run
continues exactly. All randomness comes from the `rng` argument, so a run's `--seed` fixes every choice.
`base` holds the protocol and what every strategy shares, one module per strategy follows, and `registry` names
them: adding a strategy is a class plus one registry line.
"""
