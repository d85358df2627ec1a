"""The text field every form's fields are built on: the length limit comes first.

A form field converts its input before its validators see it (`to_python`), and some
conversions cost far more than the input's size: NFKC turns one character into as many
as eighteen, and a megabyte of them costs seconds of CPU before any validator runs.
"""

from typing import Any

from django import forms
from django.core.validators import MaxLengthValidator


class BoundedCharField(forms.CharField):
    """A CharField that refuses text over its max_length as soon as it is a string, before
    a subclass converts it or any validator reads it, with Django's own message ("Ensure
    this value has at most N characters (it has M).")."""

    def to_python(self, value: Any | None) -> str | None:
        text = super().to_python(value)
        if text and self.max_length is not None and len(text) > self.max_length:
            MaxLengthValidator(self.max_length)(text)
        return text
