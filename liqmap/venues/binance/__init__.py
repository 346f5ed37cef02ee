"""Binance USDⓈ-M futures: Binance Vision bulk files (``vision``, ``layout``) and their downloader."""
