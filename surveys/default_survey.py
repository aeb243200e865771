"""The survey every new organization starts with (and the demo's): NPS, CSAT, CES, a reason
when the customer is unhappy, and a comment. Translations written by people who speak them."""

LANGUAGES = ["vi", "th", "en"]

QUESTIONS = [
    {
        "key": "nps",
        "kind": "nps",
        "required": False,
        "text": {
            "vi": "Bạn có sẵn lòng giới thiệu chúng tôi với bạn bè hoặc đồng nghiệp không?",
            "th": "คุณมีแนวโน้มจะแนะนำเราให้เพื่อนหรือเพื่อนร่วมงานมากน้อยเพียงใด",
            "en": "How likely are you to recommend us to a friend or colleague?",
        },
        "labels": {
            "low": {"vi": "Chắc chắn không", "th": "ไม่แนะนำเลย", "en": "Not at all likely"},
            "high": {"vi": "Chắc chắn có", "th": "แนะนำแน่นอน", "en": "Extremely likely"},
        },
    },
    {
        "key": "csat",
        "kind": "csat",
        "required": False,
        "text": {
            "vi": "Bạn hài lòng thế nào với lần ghé thăm hôm nay?",
            "th": "คุณพึงพอใจกับการมาใช้บริการวันนี้มากน้อยเพียงใด",
            "en": "How satisfied are you with your visit today?",
        },
        "labels": {
            "low": {"vi": "Rất không hài lòng", "th": "ไม่พอใจมาก", "en": "Very dissatisfied"},
            "high": {"vi": "Rất hài lòng", "th": "พอใจมาก", "en": "Very satisfied"},
        },
    },
    {
        "key": "ces",
        "kind": "ces",
        "required": False,
        "text": {
            "vi": "Cửa hàng giúp tôi dễ dàng có được những gì mình cần.",
            "th": "ร้านนี้ทำให้ฉันได้สิ่งที่ต้องการได้อย่างง่ายดาย",
            "en": "The store made it easy for me to get what I needed.",
        },
        "labels": {
            "low": {
                "vi": "Hoàn toàn không đồng ý",
                "th": "ไม่เห็นด้วยอย่างยิ่ง",
                "en": "Strongly disagree",
            },
            "high": {"vi": "Hoàn toàn đồng ý", "th": "เห็นด้วยอย่างยิ่ง", "en": "Strongly agree"},
        },
    },
    {
        "key": "reason",
        "kind": "choice",
        "required": False,
        "multiple": True,
        "show_if": {"question": "nps", "lte": 6},
        "text": {
            "vi": "Chúng tôi nên cải thiện điều gì?",
            "th": "เราควรปรับปรุงเรื่องใด",
            "en": "What should we do better?",
        },
        "choices": [
            {
                "key": "wait_time",
                "text": {"vi": "Thời gian chờ", "th": "เวลารอคอย", "en": "Waiting time"},
            },
            {"key": "staff", "text": {"vi": "Nhân viên", "th": "พนักงาน", "en": "Staff"}},
            {"key": "product", "text": {"vi": "Sản phẩm", "th": "สินค้า", "en": "Products"}},
            {
                "key": "cleanliness",
                "text": {"vi": "Vệ sinh", "th": "ความสะอาด", "en": "Cleanliness"},
            },
            {"key": "price", "text": {"vi": "Giá cả", "th": "ราคา", "en": "Price"}},
        ],
    },
    {
        "key": "comment",
        "kind": "text",
        "required": False,
        "max_length": 1000,
        "text": {
            "vi": "Bạn muốn nhắn gì thêm với chúng tôi không?",
            "th": "มีอะไรอยากบอกเราเพิ่มเติมไหม",
            "en": "Anything else you would like to tell us?",
        },
    },
]
