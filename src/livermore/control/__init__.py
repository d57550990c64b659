"""The original's Redis control channel: commands in, ack/success/error replies out."""
