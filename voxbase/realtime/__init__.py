"""Live fan-out of conversation events: in-process by default, Redis pub/sub when configured."""

from voxbase.realtime.hub import Hub, InProcessHub, RedisHub, build_hub

__all__ = ["Hub", "InProcessHub", "RedisHub", "build_hub"]
