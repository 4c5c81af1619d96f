"""The event channel: an instance and its management server talk both ways over one socket.

``message`` and ``settings`` are pure (the message format, channel names, the
``reporting`` entry); ``transport`` frames messages on a stream (JSON lines on
``unix:``, ``tcp://``, ``vsock://``) or a WebSocket (``http(s)://``, ``ws(s)://``);
``publish`` lets local processes (stages, the hotplug processor) hand events to
the service; ``service`` is ``blockprov channel serve``, the socket-activated
process that holds the outbound connection and carries out what arrives.
See docs/event-channel.md.
"""
