"""Sources: a VOD file or chat log in; MediaInfo, decoded audio chunks and ChatLog out."""
