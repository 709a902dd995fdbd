"""一键申报 on a phone: a farmer opens the link the village sent (/apply/?village=…) on a
360 px wide phone, submits the empty form by mistake, reads what is missing beside each field,
fills it in and gets a reference number."""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import VILLAGE_A
from tests.factories import make_id_number

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

PHONE_WIDTH = 360
# WCAG 2.2 target size (minimum): 24 x 24 CSS pixels.
MIN_TARGET = 24
FIELDS = ["户主姓名", "手机号", "身份证号", "所在村", "困难类型", "困难情况"]
# What a person reads under each field after submitting the empty form.
EMPTY_FORM_ERRORS = {
    "户主姓名": "请填写户主姓名",
    "手机号": "请填写11位手机号",
    "身份证号": "身份证号为空",
    "困难类型": "请选择困难类型",
    "困难情况": "请简要说明困难情况",
}


def assert_fits_the_phone(page):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE_WIDTH, f"the page is {width}px wide on a {PHONE_WIDTH}px phone"


def assert_tappable(field, label):
    expect(field).to_be_visible()
    box = field.bounding_box()
    assert box is not None, label
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE_WIDTH, (label, box)
    assert box["height"] >= MIN_TARGET, (label, box)
    field.tap()  # Playwright checks nothing covers it and it takes the tap
    expect(field).to_be_focused()


def test_a_farmer_applies_from_a_phone(phone_page, live_server, regions, shot):
    page = phone_page
    page.goto(f"{live_server.url}/apply/?village={VILLAGE_A}")

    expect(page.get_by_role("heading", name="防返贫一键申报")).to_be_visible()
    assert_fits_the_phone(page)
    for label in FIELDS:
        assert_tappable(page.get_by_label(label, exact=True), label)
    # The link named the village: it is already chosen.
    expect(page.get_by_label("所在村")).to_contain_text("东关村")
    submit = page.get_by_role("button", name="提交申报")
    expect(submit).to_be_visible()
    assert submit.bounding_box()["height"] >= MIN_TARGET
    shot(page, "empty-form")

    # Submitted empty: each missing answer is named under its own field, in Chinese.
    with page.expect_navigation():
        submit.tap()
    assert_fits_the_phone(page)
    for label, message in EMPTY_FORM_ERRORS.items():
        error = page.get_by_text(message)
        expect(error).to_be_visible()
        field = page.get_by_label(label, exact=True).bounding_box()
        below = error.bounding_box()
        gap = below["y"] - (field["y"] + field["height"])
        assert 0 <= gap <= 40, f"{message!r} is not right under {label} ({gap:.0f}px)"
    expect(page.get_by_text("请选择所在村")).to_have_count(0)
    shot(page, "errors-beside-fields")

    page.get_by_label("户主姓名").fill("马福海")
    page.get_by_label("手机号", exact=True).fill("13912345678")
    page.get_by_label("身份证号", exact=True).fill(make_id_number(sequence=960))
    page.get_by_label("困难类型").select_option(label="因病")
    page.get_by_label("困难情况").fill("妻子患病住院，医疗费用高，家里收入不够看病")
    assert_fits_the_phone(page)
    shot(page, "filled-in")

    with page.expect_navigation():
        page.get_by_role("button", name="提交申报").tap()
    receipt = page.get_by_role("status")
    expect(receipt).to_be_visible()
    expect(receipt).to_contain_text("申报已收到")
    expect(receipt).to_contain_text(re.compile(r"受理编号\s*SQ\d{14}"))
    expect(receipt).to_contain_text("日内受理")
    expect(page.get_by_role("button", name="提交申报")).to_have_count(0)
    assert_fits_the_phone(page)
    shot(page, "receipt")
