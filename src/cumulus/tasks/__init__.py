"""What runs on a node: the executor, Run.get_context(), environments, containers."""
