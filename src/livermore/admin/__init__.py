"""The admin web app and its one page: live warmup progress, candle meter, commands."""
