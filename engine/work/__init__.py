"""Jobs for workers (PostgreSQL): cardflow's jobs on procrastinate's task queue. `queue` opens the
queue on the store (its tables, its connection); `jobs` defines the jobs (the chunks of a batch,
the scheduled batch sync, outbox delivery and order-status sync, the retry of a killed worker's
jobs); `worker` runs a worker, riding out a lost database and stopping on SIGTERM.

May import: batch, outbound, store, definitions and the ground floor.
"""
