"""The digest: editions, who gets which articles, rendering, and the messages' bytes."""
