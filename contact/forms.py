from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from common.form_fields import BoundedCharField
from contact.models import BODY_MAX_LENGTH, Message


class TextareaField(BoundedCharField):
    """Text from a textarea, its line breaks as one character each.

    Browsers send a textarea's line breaks as CRLF; kept as they come, each would count
    twice against the limit that the page's counter shows. They become one before the
    limit is checked: that only shortens the text, in one pass.
    """

    def to_python(self, value: Any | None) -> str | None:
        if isinstance(value, str):
            value = value.replace("\r\n", "\n")
        return super().to_python(value)


class MessageForm(forms.ModelForm[Message]):
    """A message to the administrator: a one-line subject and a body."""

    # The fields that show, as the person types, how much of their limit is used.
    counted_fields = ("subject", "body")

    class Meta:
        model = Message
        fields = ["subject", "body"]
        labels = {"subject": _("Subject"), "body": _("Message")}
        # Each refuses text over its limit before anything else reads it.
        field_classes = {"subject": BoundedCharField, "body": TextareaField}
        widgets = {"body": forms.Textarea(attrs={"rows": 8})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The model's TextField carries no max_length of its own; the form tells people.
        # `fields` holds plain Fields to the type checker; the body's is a CharField.
        cast(forms.CharField, self.fields["body"]).max_length = BODY_MAX_LENGTH
        # No maxlength in the page: a browser would cut a long paste short without a word.
        # The whole text stays in the field, and its counter and error say how far over.
        for name in self.counted_fields:
            self.fields[name].widget.attrs.pop("maxlength", None)

    def clean_subject(self) -> str:
        subject: str = self.cleaned_data["subject"]
        # The subject becomes an email header: a line break there could forge headers.
        if "\n" in subject or "\r" in subject:
            raise forms.ValidationError(
                _("The subject must be a single line."), code="subject_line_break"
            )
        return subject
