"""The hub side of tre: spawner, authenticator, permit enforcer, the processes of `tre up`."""
