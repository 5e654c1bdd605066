"""What the tests share that is not Maak: fake platform servers, expected texts, the headless browser."""
