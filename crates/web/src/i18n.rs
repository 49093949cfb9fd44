//! Languages: Chinese by default, English available. The language is the `gh_lang` cookie if
//! set (by the switch in the page header, `GET /lang?to=en&back=/…`), else the browser's
//! `Accept-Language`, else Chinese. Every text a page shows is a [`Msg`], so a missing
//! translation does not compile.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

pub const LANG_COOKIE: &str = "gh_lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    /// The BCP 47 tag for `<html lang>`.
    pub fn tag(self) -> &'static str {
        match self {
            Self::Zh => "zh-CN",
            Self::En => "en",
        }
    }

    fn code(self) -> &'static str {
        match self {
            Self::Zh => "zh",
            Self::En => "en",
        }
    }

    fn parse(code: &str) -> Option<Self> {
        match code.trim().to_ascii_lowercase().as_str() {
            "zh" | "zh-cn" | "zh-hans" => Some(Self::Zh),
            "en" => Some(Self::En),
            _ => None,
        }
    }

    /// The other language (what the switch offers).
    pub fn other(self) -> Self {
        match self {
            Self::Zh => Self::En,
            Self::En => Self::Zh,
        }
    }

    /// From the request: the cookie, else the first language `Accept-Language` names that we
    /// have (by its primary tag), else Chinese.
    pub fn of(parts: &Parts) -> Self {
        Self::of_headers(&parts.headers)
    }

    /// [`Lang::of`] from the request's headers.
    pub fn of_headers(headers: &HeaderMap) -> Self {
        let cookie = gatehouse_api::auth::cookie(headers, LANG_COOKIE).and_then(Self::parse);
        if let Some(lang) = cookie {
            return lang;
        }
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .into_iter()
            .flat_map(|v| v.split(','))
            .filter_map(|item| item.split(';').next())
            .find_map(|tag| Self::parse(tag.split('-').next().unwrap_or(tag)))
            .unwrap_or(Self::Zh)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(parts))
    }
}

#[derive(Deserialize)]
pub struct Switch {
    to: String,
    back: Option<String>,
}

/// Where a redirect may go back to: a path on this site, never another site (`//host`, `\`).
pub(crate) fn local_path(back: Option<&str>) -> &str {
    match back {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p,
        _ => "/",
    }
}

/// `GET /lang?to=en&back=/…`: remembers the language for a year and goes back.
pub async fn switch(Query(q): Query<Switch>) -> Response {
    let Some(lang) = Lang::parse(&q.to) else {
        return (StatusCode::BAD_REQUEST, "unknown language").into_response();
    };
    let mut response = Redirect::to(local_path(q.back.as_deref())).into_response();
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
        lang.code()
    );
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// An enum of texts, each with its Chinese and English words.
macro_rules! messages {
    ($(#[$doc:meta])* enum $name:ident; $($key:ident => $zh:literal, $en:literal;)*) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($key),* }

        impl $name {
            pub fn text(self, lang: $crate::i18n::Lang) -> &'static str {
                match (self, lang) {
                    $(($name::$key, $crate::i18n::Lang::Zh) => $zh, ($name::$key, $crate::i18n::Lang::En) => $en,)*
                }
            }
        }
    };
}
pub(crate) use messages;

messages! {
    /// Every text the visitor pages show.
    enum Msg;
    MuseumName => "科学技术馆", "Science and Technology Museum";
    SkipToContent => "跳到正文", "Skip to content";
    NavHome => "首页", "Home";
    NavOrders => "我的订单", "My orders";
    NavMe => "个人中心", "Personal centre";
    Language => "English", "中文";
    LanguageLabel => "Switch to English", "切换到中文";
    HomeTitle => "预约参观", "Book your visit";
    HomeLead => "实名预约，分时入馆。每日 09:00 开放两天后的门票。", "Timed, real-name tickets. Each day's tickets open two days ahead at 09:00.";
    FeaturedHalls => "精选展厅与活动", "Featured halls and activities";
    FeaturedFilms => "正在上映", "Now showing";
    EntryTickets => "入馆预约", "Entry tickets";
    BookEntry => "预约入馆", "Book entry";
    Book => "预约", "Book";
    KindEntry => "入馆", "Entry";
    KindHall => "展厅", "Exhibition hall";
    KindActivity => "活动", "Activity";
    KindCinema => "影院", "Cinema";
    NothingFeatured => "暂无推荐项目。", "Nothing is featured at the moment.";
    SignInTitle => "登录", "Sign in";
    SignInLead => "使用手机号和短信验证码登录；首次登录即创建账户。", "Sign in with your phone and a text-message code; the first sign-in creates your account.";
    PhoneLabel => "手机号", "Mobile phone";
    PhoneHint => "11 位中国大陆手机号", "An 11-digit mainland China mobile number";
    SendCode => "获取验证码", "Send code";
    CodeLabel => "验证码", "Code";
    CodeSentTo => "验证码已发送至", "We sent a code to";
    CodeHint => "6 位数字，5 分钟内有效", "6 digits, valid for 5 minutes";
    SignInButton => "登录", "Sign in";
    OtherPhone => "换一个手机号", "Use another phone";
    SignOut => "退出登录", "Sign out";
    MeTitle => "个人中心", "Personal centre";
    SignedInAs => "当前账户", "Signed in as";
    Required => "必填", "required";
    ErrorRateLimited => "操作过于频繁，请稍后再试。", "Too many attempts; please wait a moment and try again.";
    ErrorCodeWrong => "验证码不正确。", "The code is not right.";
    ErrorCodeExpired => "验证码已失效，请重新获取。", "The code has expired or been used; ask for a new one.";
    ErrorUnavailable => "服务暂时不可用，请稍后再试。", "The service is unavailable for a moment; please try again.";
    ErrorInvalid => "填写有误", "Please check this";
    ErrorForm => "表单内容无法识别，请重新填写。", "The form could not be read; please fill it in again.";
    ErrorCrossSite => "该请求并非来自本站，已拒绝。", "This request did not come from this site and was refused.";
    ErrorSessionForm => "页面已过期，请重试。", "This page has expired; please try again.";
    NotFound => "页面不存在", "Page not found";
    ChooseDate => "选择日期", "Choose a date";
    NoDates => "近期没有可预约的场次。", "Nothing can be booked in the coming days.";
    Available => "可预约", "Available";
    OtherDate => "← 选择其他日期", "← Choose another date";
    ChooseSlot => "选择时段", "Choose a time";
    FewLeft => "余票紧张", "Few left:";
    Remaining => "余票", "Left:";
    SoldOut => "已约满", "Sold out";
    Closed => "已停止预约", "Booking closed";
    OpensAt => "开放预约时间", "Opens";
    TicketType => "票种", "Ticket type";
    Notice => "参观须知", "Visiting notice";
    AcceptNotice => "我已阅读并同意参观须知", "I have read and accept the visiting notice";
    Visitors => "参观人", "Visitors";
    NoVisitorsYet => "还没有常用参观人，请先添加。", "You have no frequent visitors yet; add one first.";
    AddVisitor => "添加参观人", "Add a visitor";
    ContactPhone => "联系电话", "Contact phone";
    ContactPhoneHint => "用于接收预约通知", "For messages about this booking";
    ConfirmBooking => "确认预约", "Confirm booking";
    Free => "免费", "Free";
    MustAcceptNotice => "请阅读并同意参观须知。", "Please read and accept the visiting notice.";
    ChooseVisitors => "请至少选择一位参观人。", "Choose at least one visitor.";
    ChooseTicketType => "请为每位参观人选择票种。", "Choose a ticket type for each visitor.";
    TicketTypePerVisitor => "实名预约：在下方为每位参观人选择票种，人数即张数。", "Real-name tickets: choose each visitor's ticket type below; one ticket per visitor.";
    VisitorsAndTypes => "参观人与票种", "Visitors and their ticket types";
    ErrorSoldOut => "余票不足。", "Not enough tickets are left.";
    ErrorWindowClosed => "该场次当前不在预约时间内。", "This slot cannot be booked now.";
    ErrorLocked => "因多次预约未到馆，预约资格暂停中。", "Booking is paused after missed visits.";
    IdResident => "居民身份证", "Resident ID card";
    IdPassport => "护照", "Passport";
    IdHkMacau => "港澳居民来往内地通行证", "Mainland travel permit (Hong Kong/Macau)";
    IdTaiwan => "台湾居民来往大陆通行证", "Mainland travel permit (Taiwan)";
    Delete => "删除", "Delete";
    RequiredNote => "带 * 的为必填项。", "Fields marked * are required.";
    VisitorName => "姓名", "Name";
    VisitorNameHint => "与证件上一致", "As written on the document";
    IdType => "证件类型", "Document type";
    IdNumber => "证件号码", "Document number";
    VisitorPhone => "手机号（选填）", "Mobile phone (optional)";
    Save => "保存", "Save";
    StatePending => "待支付", "Awaiting payment";
    StateConfirmed => "已预约", "Booked";
    StateCancelled => "已取消", "Cancelled";
    StateExpired => "已超时", "Expired";
    StateRefunded => "已退票", "Refunded";
    TicketHeld => "待支付", "Held";
    TicketValid => "有效", "Valid";
    TicketReleased => "已释放", "Released";
    OrderKinds => "订单类型", "Order types";
    AllKinds => "全部", "All";
    NoOrders => "暂无订单。", "No orders yet.";
    TicketsCount => "张票", "tickets";
    OrderNumber => "订单号", "Order number";
    When => "参观时间", "When";
    OrderState => "订单状态", "Status";
    Total => "金额", "Total";
    PayBy => "请在此时间前支付", "Pay by";
    QrFor => "入馆二维码：", "Entry QR code for";
    CancelOrder => "取消订单", "Cancel order";
    BackToOrders => "← 返回我的订单", "← Back to my orders";
    PayAlipay => "支付宝支付", "Pay with Alipay";
    GoingToAlipay => "正在前往支付宝收银台……", "Taking you to Alipay's cashier…";
    ContinueToAlipay => "前往支付宝付款", "Continue to Alipay";
    RefundTitle => "退票", "Refund";
    RefundSelected => "退所选门票", "Refund the chosen tickets";
    ChooseTickets => "请选择要退的门票。", "Choose the tickets to refund.";
    BookingPausedUntil => "因预约后未到馆，预约资格暂停至", "Booking is paused after missed visits until";
    Consents => "我的授权", "My consents";
    NoConsents => "暂无授权记录。", "No consents given.";
    Withdrawn => "已撤回", "withdrawn";
    Withdraw => "撤回", "Withdraw";
    MyData => "我的数据", "My data";
    MyDataLead => "下载我们保存的关于您的全部信息（JSON 格式）；删除账户将销毁您的数据密钥，订单仅保留数量与金额。", "Download everything we hold about you (JSON); deleting your account destroys your data key, and orders keep only counts and money.";
    DownloadMyData => "下载我的数据", "Download my data";
    DeleteAccount => "删除账户", "Delete my account";
    DeleteLead => "删除后无法恢复：常用参观人、登录方式和订单中的个人信息都将销毁。有未完成的参观时不能删除。", "This cannot be undone: frequent visitors, sign-in methods and the personal data on orders are destroyed. It waits until no visit is ahead.";
    TypeToConfirm => "请输入以确认：", "Type to confirm:";
    KeepAccount => "← 保留账户", "← Keep my account";
    AccountDeleted => "账户已删除", "Your account is deleted";
    AccountDeletedLead => "您的个人信息已销毁。感谢您的到访。", "Your personal data has been destroyed. Thank you for visiting.";
    Seats => "选座", "Seats";
    SeatsHint => "为每位参观人选一个座位；不选则自动安排相邻的最佳座位。", "Choose a seat for each visitor, or none for the best seats side by side.";
    Screen => "银幕", "Screen";
    Row => "第", "Row";
    SeatNumber => "排 座位", "seat";
    SeatsMatchVisitors => "所选座位数须与参观人数相同，或不选座位。", "Choose as many seats as visitors, or none.";
    EditVisitor => "编辑参观人", "Edit visitor";
    EditVisitorLead => "为保护个人信息，页面不显示原有内容，请完整填写。", "To protect personal data the current details are not shown; fill them in again.";
    Edit => "编辑", "Edit";
    CorrectPhone => "更正联系电话", "Correct the contact phone";
    NewContactPhone => "新的联系电话", "New contact phone";
    TheatreDome => "球幕影院", "Dome theatre";
    Theatre4d => "4D 影院", "4D theatre";
    Theatre3d => "3D 影院", "3D theatre";
    ChooseTheatre => "选择影厅", "Choose a theatre";
    OtherTheatre => "← 其他影厅", "← Other theatres";
    FilmsCount => "部影片", "films";
    ChooseFilm => "选择影片与场次", "Choose a film and showing";
    ByTheatre => "按影厅、日期选场次", "Showings by theatre and date";
    QueueTitle => "排队预约", "Waiting room";
    QueueOpensAt => "开放时间", "Booking opens";
    QueueLead => "这一天的门票在开放时通过排队预约。开放前加入的人将在开放时随机排序，与加入早晚无关；开放后加入的排在他们之后。", "Tickets for this day are booked through the waiting room. Everyone who joins before the opening is put in a random order at the opening, whatever time they joined; those who join later queue behind them.";
    JoinQueue => "加入排队", "Join the queue";
    QueueJoined => "您已加入排队。", "You are in the queue.";
    QueueShuffled => "开放时将随机决定顺序，此前加入的早晚不影响结果。请保持此页面打开。", "At the opening the order is drawn at random; when you joined before it makes no difference. Keep this page open.";
    PeopleAhead => "您前面还有", "People ahead of you:";
    EstimatedWait => "预计等待约", "Estimated wait: about";
    Minutes => "分钟", "minutes";
    KeepPageOpen => "页面会自动更新，请勿关闭。", "This page updates by itself; keep it open.";
    YourTurn => "轮到您了！请在此时间前完成预约：", "It is your turn! Book before";
    ContinueBooking => "继续预约", "Continue booking";
    QueueDone => "您的排队已结束。", "Your turn in the queue has ended.";
    QueueFairness => "排队如何保证公平", "How the queue stays fair";
    QueueFairnessLead => "开放前公布随机种子的 SHA-256 值，开放后公布种子本身；任何人都可以用它重新计算顺序。", "Before the opening we publish the SHA-256 of the random seed, and the seed after it; anyone can re-run the order with it.";
    ChallengeTitle => "正在验证", "Checking your browser";
    ChallengeHeading => "正在确认您不是自动程序", "Making sure you are not an automated program";
    ChallengeLead => "这需要几秒钟，无需任何操作，完成后页面会自动继续。", "This takes a few seconds and needs no action; the page goes on by itself.";
    ChallengeWorking => "正在计算……", "Working…";
    ChallengeAlmost => "即将完成……", "Almost done…";
    ChallengeFailed => "验证失败，请刷新页面重试。", "Verification failed: please reload the page.";
    ChallengeNoScript => "此页面需要 JavaScript；也可以用下方的短信验证。", "This page needs JavaScript, or verify by SMS below.";
    ChallengeSms => "无法完成？用短信验证", "Can't finish? Verify by SMS";
    Verify => "验证", "Verify";
    Footer => "实名预约 · 个人信息加密保存 · 数据仅用于预约与入馆核验", "Real-name booking · personal data encrypted at rest · used only for booking and check-in";
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut builder = Request::builder().uri("/");
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(()).unwrap_or_default().into_parts().0
    }

    #[test]
    fn the_cookie_wins_then_accept_language_then_chinese() {
        assert_eq!(Lang::of(&parts(&[])), Lang::Zh);
        assert_eq!(
            Lang::of(&parts(&[("accept-language", "en-GB,en;q=0.9")])),
            Lang::En
        );
        assert_eq!(
            Lang::of(&parts(&[("accept-language", "fr-FR, zh-CN;q=0.5")])),
            Lang::Zh
        );
        assert_eq!(
            Lang::of(&parts(&[
                ("accept-language", "en"),
                ("cookie", "a=b; gh_lang=zh")
            ])),
            Lang::Zh
        );
    }

    #[test]
    fn going_back_stays_on_this_site() {
        assert_eq!(local_path(Some("/orders")), "/orders");
        for outside in [
            "//evil.example/",
            "https://evil.example/",
            "/\\evil.example",
            "orders",
        ] {
            assert_eq!(local_path(Some(outside)), "/", "{outside}");
        }
        assert_eq!(local_path(None), "/");
    }
}
