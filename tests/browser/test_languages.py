"""A Russian browser walks the site and sees it in Russian, down to the live errors and
the admin header; an English browser switches to Russian and back."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import mark_page, page_was_not_reloaded
from tests.browser.test_accounts import settled
from tests.conftest import GOOD_PASSWORD, make_person
from tests.users.mail import deliver_account_emails
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)

EMAIL = "ivan@example.org"
SUBJECT = "Вопрос о заказе"


def english_words_in(text: str) -> list[str]:
    """Latin-letter words in an email's text, leaving out addresses and links."""
    text = re.sub(r"\S+@\S+|https?://\S+", "", text)
    return re.findall(r"[A-Za-z]{2,}", text)


def english_words(page: Page, *own_words: str) -> list[str]:
    """Latin-letter words on the page, leaving out what the person typed themselves."""
    text = page.inner_text("body")
    for words in own_words:
        text = text.replace(words, "")
    # The switcher names English in English, as it must.
    return [word for word in re.findall(r"[A-Za-z]{2,}", text) if word != "English"]


@pytest.fixture
def russian(browser):
    context = browser.new_context(locale="ru-RU")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, errors


def test_a_russian_browser_sees_every_page_in_russian(live_server, russian: Page, smtp_sink):
    page = russian
    page.goto(live_server.url)
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.get_by_role("heading", level=1)).to_have_text("Написать администратору")
    assert english_words(page) == []

    page.get_by_role("link", name="Зарегистрироваться").first.click()
    mark_page(page)
    email = page.get_by_label("Электронная почта")
    password = page.get_by_label("Пароль", exact=True)
    email.fill(EMAIL)
    password.fill("short")
    password.press("Tab")
    # Django's own messages come in Russian too, live.
    expect(page.locator("#id_password1_error")).to_contain_text("слишком короткий")
    password.fill(GOOD_PASSWORD)
    page.get_by_label("Подтверждение пароля").fill(GOOD_PASSWORD + "-опечатка")
    page.get_by_role("button", name="Зарегистрироваться").click()
    expect(page.locator("#register-form[data-submitted]")).to_be_visible()
    expect(page.locator("#id_password2_error")).to_have_text("Пароли не совпадают.")
    assert page_was_not_reloaded(page)
    assert english_words(page, EMAIL) == []
    settled(page, "#register-form")

    # Passwords are never sent back to the page: typed again.
    password.fill(GOOD_PASSWORD)
    page.get_by_label("Подтверждение пароля").fill(GOOD_PASSWORD)
    page.get_by_role("button", name="Зарегистрироваться").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Проверьте почту", timeout=15_000)
    # The page names the address the email went to.
    assert english_words(page, EMAIL) == []

    # The confirmation email is in Russian, and so is every step it leads to.
    deliver_account_emails()
    letter = smtp_sink.take(to=EMAIL, timeout=5).message
    assert letter["Subject"].strip() == "Подтвердите адрес электронной почты"
    body = letter.get_body(("plain",)).get_content()
    assert english_words_in(body) == []
    link = re.search(r"https?://[^/\s]+(/accounts/confirm/\S+)", body).group(1)
    page.goto(live_server.url + link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Войти")
    page.get_by_label("Электронная почта").fill(EMAIL.upper())
    page.get_by_label("Пароль").fill(GOOD_PASSWORD)
    page.get_by_role("button", name="Войти").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Подтвердите адрес электронной почты")
    assert english_words(page, EMAIL) == []
    page.get_by_role("button", name="Подтвердить адрес").click()
    expect(page.locator(".notices")).to_have_text("Ваш адрес электронной почты подтверждён.")
    expect(page.locator(".signed-in-as")).to_have_text(EMAIL, timeout=15_000)
    mark_page(page)
    subject = page.get_by_label("Тема")
    subject.fill("x")
    subject.fill("")
    subject.press("Tab")
    expect(page.locator("#id_subject_error")).to_have_text("Обязательное поле.")
    expect(page.locator("#id_body_counter")).to_have_text("0 из 5000 символов")
    subject.fill(SUBJECT)
    page.get_by_label("Сообщение").fill("Где моя посылка?")
    page.get_by_role("button", name="Отправить").click()
    expect(page.locator(".confirmation")).to_contain_text(
        f"Ваше сообщение «{SUBJECT}» уже в пути к администратору."
    )
    assert page_was_not_reloaded(page)
    assert english_words(page, EMAIL, SUBJECT) == []

    page.get_by_role("link", name="Следите за ним").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(SUBJECT)
    expect(page.locator("#message-progress .status")).to_have_text("В пути")
    assert english_words(page, EMAIL, SUBJECT) == []
    page.get_by_role("link", name="Все мои сообщения").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Мои сообщения")
    expect(page.locator("#message-list .status")).to_have_text("В пути")
    assert english_words(page, EMAIL, SUBJECT) == []

    User.objects.create_superuser(email="boss@example.org", password=GOOD_PASSWORD)
    page.get_by_role("button", name="Выйти").click()
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Электронная почта").fill("boss@example.org")
    page.get_by_label("Пароль").fill(GOOD_PASSWORD)
    page.get_by_role("button", name="Войти").click()
    expect(page.locator("#delivery-counts")).to_have_text(
        "Отправлено писем: 0 (не доставлено: 0) · ожидают: 1"
    )


def test_an_english_browser_switches_to_russian_and_back(live_server, page: Page):
    page.goto(f"{live_server.url}/accounts/login/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    # The current language reads as selected, not as unavailable.
    expect(page.get_by_role("button", name="English")).to_have_attribute("aria-current", "true")
    expect(page.get_by_role("button", name="English")).to_be_enabled()

    page.get_by_role("button", name="Русский").click()
    expect(page).to_have_url(f"{live_server.url}/accounts/login/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Войти")
    # The choice stays with the person from page to page.
    page.get_by_role("link", name="Зарегистрироваться").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Зарегистрироваться")

    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign up")


def test_a_russian_browser_resets_changes_and_deletes_in_russian(
    live_server, russian: Page, smtp_sink
):
    page = russian
    make_person(EMAIL)
    new_password = "айва-луг-компас-77"
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_role("link", name="Забыли пароль?").click()
    assert english_words(page) == []
    page.get_by_label("Электронная почта").fill(EMAIL.upper())
    page.get_by_role("button", name="Прислать ссылку").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Проверьте почту")
    assert english_words(page, EMAIL) == []

    deliver_account_emails()
    letter = smtp_sink.take(to=EMAIL, timeout=5).message
    assert letter["Subject"].strip() == "Новый пароль"
    body = letter.get_body(("plain",)).get_content()
    assert english_words_in(body) == []
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/\S+)", body).group(1)
    page.goto(live_server.url + link)
    assert english_words(page) == []
    page.get_by_label("Новый пароль", exact=True).fill(new_password)
    page.get_by_label("Подтверждение нового пароля").fill(new_password + "-опечатка")
    page.get_by_label("Подтверждение нового пароля").press("Tab")
    expect(page.locator("#id_new_password2_error")).to_have_text("Пароли не совпадают.")
    page.get_by_label("Подтверждение нового пароля").fill(new_password)
    page.get_by_role("button", name="Установить новый пароль").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Пароль установлен")
    assert english_words(page) == []

    page.get_by_role("link", name="Войти").last.click()
    page.get_by_label("Электронная почта").fill(EMAIL)
    page.get_by_label("Пароль").fill(new_password)
    page.get_by_role("button", name="Войти").click()
    page.locator(".signed-in-as").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ваша учётная запись")
    assert english_words(page, EMAIL) == []
    page.get_by_role("link", name="Сменить пароль").click()
    assert english_words(page, EMAIL) == []
    page.get_by_label("Старый пароль").fill(new_password)
    page.get_by_label("Новый пароль", exact=True).fill(GOOD_PASSWORD)
    page.get_by_label("Подтверждение нового пароля").fill(GOOD_PASSWORD)
    page.get_by_role("button", name="Сменить пароль").click()
    expect(page.locator(".notices")).to_have_text("Пароль изменён. Все остальные сеансы завершены.")
    page.get_by_role("link", name="Удалить учётную запись").click()
    assert english_words(page, EMAIL) == []
    page.get_by_label("Пароль").fill(GOOD_PASSWORD)
    page.get_by_role("button", name="Удалить мою учётную запись").click()
    expect(page.locator(".notices")).to_have_text("Ваша учётная запись удалена.")
    assert not User.objects.exists()
