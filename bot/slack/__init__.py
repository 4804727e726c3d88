"""Slack: a slack-bolt app whose listeners only enqueue, and a deliverer the worker posts answers with."""
