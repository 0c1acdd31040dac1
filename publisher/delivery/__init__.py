"""Delivery: claiming an edition's rows, sending them through a transport, recording results."""
