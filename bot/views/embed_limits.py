"""Discord's embed limits, applied to every embed the bot builds before it leaves the process.

Consumes a ``discord.Embed`` built from anyone's text (file names, VOD titles, transcripts, errors);
produces the same embed cut to what Discord accepts (developer docs, resources/message, "Embed
Limits": title 256, description 4096, 25 fields, field name 256 and value 1024, footer 2048, author
256, 6000 characters in all), so a long file name shortens a title instead of making Discord refuse
the whole message with a 400. Cuts end with "…".
"""

from __future__ import annotations

import discord

TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
AUTHOR_MAX = 256
TOTAL_MAX = 6000


def cut(text: str, limit: int) -> str:
    """``text`` (trimmed, as Discord measures it) in at most ``limit`` characters."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def fit(embed: discord.Embed) -> discord.Embed:
    """``embed`` within every limit; the description gives way first when the total is too long."""
    if embed.title:
        embed.title = cut(embed.title, TITLE_MAX)
    if embed.description:
        embed.description = cut(embed.description, DESCRIPTION_MAX)
    fields = embed.fields[:FIELDS_MAX]
    embed.clear_fields()
    for f in fields:
        embed.add_field(name=cut(str(f.name or "—"), FIELD_NAME_MAX) or "—",
                        value=cut(str(f.value or "—"), FIELD_VALUE_MAX) or "—", inline=bool(f.inline))
    if embed.footer.text:
        embed.set_footer(text=cut(embed.footer.text, FOOTER_MAX), icon_url=embed.footer.icon_url)
    if embed.author.name:
        embed.set_author(name=cut(embed.author.name, AUTHOR_MAX), url=embed.author.url, icon_url=embed.author.icon_url)
    over = len(embed) - TOTAL_MAX
    if over > 0 and embed.description:
        embed.description = cut(embed.description, max(len(embed.description) - over, 1))
    while len(embed) > TOTAL_MAX and len(embed.fields) > 1:
        embed.remove_field(len(embed.fields) - 1)
    return embed
