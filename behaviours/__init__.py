"""The contracts rtmp_actors actors implement (ProtocolHandler, SessionHandler, EventReceiver).

They mirror the behaviours of the Elixir ``rtmp`` library; the actors that implement them, and
the behaviours in full, arrive with the actor layer.
"""
