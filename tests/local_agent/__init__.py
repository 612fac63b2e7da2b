"""Tests of the local Dialogflow CX agent through the real CX async client."""
