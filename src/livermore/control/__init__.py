"""The original's Redis control channel: commands in, ack/success/error replies out.

protocol   the wire format (Command, Response) and its parsing
payloads   one model per command payload
handlers   the commands themselves; they drive `warmup/` only
channel    ControlChannel: the pub/sub listener, priority queue and worker
client     ControlClient: publish a command, collect its replies
"""
