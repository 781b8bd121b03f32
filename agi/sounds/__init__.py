"""Prompts: the text flows give for the sounds they play, rendering that
text to Asterisk sound files, and checking that every prompt a flow plays
exists. Pure logic apart from running espeak-ng and sox; no click."""
