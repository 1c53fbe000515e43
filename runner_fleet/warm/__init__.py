"""How many runners a pool keeps ready ahead of its jobs: static, by schedule, or sized from demand."""
