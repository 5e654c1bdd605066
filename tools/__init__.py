"""Tools that are not the running service: training, parse and eval, the bench, the shell, the supervisor."""
