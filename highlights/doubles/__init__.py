"""Local doubles of the services the product talks to — Twitch (GQL, usher, CDN) and Discord's REST API.

Each is as strict as the real service: every rule names its reference (the service's docs, or the
maintained client that talks to it every day) beside it. The tests run the real client code against
them, and ``highlights bench e2e`` runs a whole job through them. Nothing in the product imports them.
"""
