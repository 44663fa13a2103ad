"""Scheduled chat-bot pushes: a screen's screenshot, yesterday's KPIs and written insights."""
