"""The ``highlights`` command line: the composition root that may import bot, storage and detector."""
