"""The demo chain's data: its stores and staff, its logins, when customers come, what they
write (vi, th, en). surveys/demo.py turns these into responses."""

from dataclasses import dataclass

from locations.models import Role

VIETNAM, THAILAND = "Việt Nam", "Thailand"
HCMC, BANGKOK = "Asia/Ho_Chi_Minh", "Asia/Bangkok"  # Hà Nội keeps Asia/Ho_Chi_Minh time


@dataclass(frozen=True)
class Store:
    code: str
    name: str
    region: str
    zone: str
    language: str
    busyness: float  # share of the chain's traffic, relative to an average store (1.0)
    effect: float  # how much happier (or not) its customers are, in NPS points
    staff: tuple[tuple[str, str], ...]
    checkout: bool = False  # a second kiosk at the till


# fmt: off
STORES = (
    Store("HN-01", "Cà Phê Sen Hoàn Kiếm", VIETNAM, HCMC, "vi", 1.2, 0.2, (
        ("NV-001", "Nguyễn Văn An"), ("NV-002", "Phạm Thu Hà"), ("NV-003", "Hoàng Đức Anh"),
        ("NV-004", "Vũ Thị Lan"), ("NV-005", "Đỗ Minh Khoa"))),
    Store("HN-02", "Cà Phê Sen Cầu Giấy", VIETNAM, HCMC, "vi", 1.0, -1.3, (
        ("NV-006", "Ngô Thị Hồng"), ("NV-007", "Dương Văn Tùng"), ("NV-008", "Lý Thu Trang"),
        ("NV-009", "Đinh Công Sơn"), ("NV-010", "Kiều Anh Thư"))),
    Store("HCM-01", "Cà Phê Sen Quận 1", VIETNAM, HCMC, "vi", 1.3, 0.3, (
        ("NV-011", "Trần Thị Mai"), ("NV-012", "Lê Hoàng Minh"), ("NV-013", "Võ Ngọc Ánh"),
        ("NV-014", "Huỳnh Tấn Phát"), ("NV-015", "Mai Phương Thảo"), ("NV-016", "Phan Gia Huy")),
        checkout=True),
    Store("HCM-02", "Cà Phê Sen Thảo Điền", VIETNAM, HCMC, "vi", 0.9, 0.0, (
        ("NV-017", "Đặng Quốc Bảo"), ("NV-018", "Bùi Thanh Hương"), ("NV-019", "Tạ Minh Tâm"),
        ("NV-020", "Hồ Bảo Ngọc"), ("NV-021", "Châu Thanh Tú"))),
    Store("HCM-03", "Cà Phê Sen Phú Nhuận", VIETNAM, HCMC, "vi", 0.8, -0.2, (
        ("NV-022", "Lương Thị Ngọc"), ("NV-023", "Cao Văn Long"), ("NV-024", "Trịnh Hải Yến"),
        ("NV-025", "Quách Đình Nam"))),
    Store("BKK-01", "Cà Phê Sen Sukhumvit", THAILAND, BANGKOK, "th", 1.0, 0.1, (
        ("TH-001", "สมชาย ใจดี"), ("TH-002", "สุดารัตน์ แก้วมณี"), ("TH-003", "ณัฐพล ศรีสุข"),
        ("TH-004", "กมลชนก วงศ์สวัสดิ์"), ("TH-005", "ธนากร บุญมา")),
        checkout=True),
    Store("BKK-02", "Cà Phê Sen Silom", THAILAND, BANGKOK, "th", 0.8, 0.0, (
        ("TH-006", "พิมพ์ชนก รัตนพันธ์"), ("TH-007", "วรวุฒิ ทองดี"), ("TH-008", "อรอุมา สายสุวรรณ"),
        ("TH-009", "ปิยะพงษ์ มีสุข"))),
)
# fmt: on


@dataclass(frozen=True)
class Login:
    label: str
    email: str
    password: str
    role: str
    region: str | None = None
    location: str | None = None
    name: tuple[str, str] = ("", "")


# Fixed and printed on purpose: this is a demo. The store manager comes last because the
# command's last line is a login a script can pick up.
# fmt: off
LOGINS = (
    Login("head office", "head@demo.cxhub", "sen-head-office", Role.HEAD_OFFICE,
          name=("Hạnh", "Lê Thu")),
    Login(f"regional manager ({VIETNAM})", "regional.vn@demo.cxhub", "sen-regional-vn",
          Role.REGIONAL_MANAGER, region=VIETNAM, name=("Việt", "Phạm Quốc")),
    Login("store manager (HCM-01)", "manager.hcm01@demo.cxhub", "sen-store-hcm01",
          Role.STORE_MANAGER, location="HCM-01", name=("Khang", "Trần Minh")),
)
# fmt: on

# Customers per local hour (the café opens 7:00, closes 22:00): breakfast, a lunch rush and
# an after-work peak.
# fmt: off
HOURLY = {7: 4, 8: 7, 9: 6, 10: 5, 11: 9, 12: 12, 13: 9, 14: 4, 15: 4, 16: 5,
          17: 7, 18: 9, 19: 9, 20: 6, 21: 3}
RUSH_HOURS = {11, 12, 13, 18, 19}
WEEKDAY = (0.9, 0.9, 0.9, 0.9, 1.0, 1.35, 1.3)  # Monday … Sunday
LANGUAGES = {"vi": (("vi", 84), ("en", 13), ("th", 3)), "th": (("th", 72), ("en", 26), ("vi", 2))}
REASONS = {"wait_time": 3.0, "staff": 1.5, "product": 2.0, "cleanliness": 1.0, "price": 2.0}

# What customers write, by language and by what they write about (a reason key, or praise).
COMMENTS = {
    "vi": {
        "praise": ("Cà phê ngon, không gian thoáng mát.", "Rất hài lòng, sẽ quay lại!",
                   "Bạc xỉu ở đây ngon nhất khu này.", "Quán sạch sẽ, phục vụ nhanh."),
        "staff_praise": ("Nhân viên rất nhiệt tình và thân thiện.",
                         "Bạn nhân viên tư vấn món rất dễ thương.",
                         "Cảm ơn bạn thu ngân đã hỗ trợ chu đáo."),
        "neutral": ("Cũng ổn, nhưng hơi ồn vào giờ cao điểm.",
                    "Đồ uống ngon nhưng chỗ ngồi hơi chật.", "Wifi hơi yếu."),
        "wait_time": ("Chờ quá lâu mới có đồ uống.", "Giờ trưa đông mà chỉ có một quầy thu ngân.",
                      "Đợi gần 20 phút cho một ly cà phê sữa đá."),
        "staff": ("Nhân viên thiếu nhiệt tình, không chào khách.",
                  "Gọi món bị nhầm mà không ai xin lỗi."),
        "product": ("Cà phê hôm nay hơi nhạt.", "Bánh không còn tươi.", "Trà đào quá ngọt."),
        "cleanliness": ("Bàn chưa được lau sạch.", "Nhà vệ sinh cần được dọn thường xuyên hơn."),
        "price": ("Giá hơi cao so với khu vực.", "Tăng giá mà chất lượng không đổi."),
    },
    "th": {
        "praise": ("กาแฟอร่อย บรรยากาศดีมาก", "ประทับใจมาก จะกลับมาอีกแน่นอน",
                   "ร้านสะอาด บริการรวดเร็ว"),
        "staff_praise": ("พนักงานยิ้มแย้มและเป็นกันเองมาก", "น้องพนักงานแนะนำเมนูได้ดีมาก",
                         "ขอบคุณพนักงานที่ดูแลอย่างดีค่ะ"),
        "neutral": ("โดยรวมโอเค แต่ช่วงเที่ยงคนเยอะไปหน่อย", "เครื่องดื่มอร่อยแต่ที่นั่งน้อย",
                    "ไวไฟช้า"),
        "wait_time": ("รอเครื่องดื่มนานมาก", "ช่วงพักเที่ยงรอคิวนานเกินไป",
                      "รอเกือบ 20 นาทีกว่าจะได้กาแฟ"),
        "staff": ("พนักงานไม่ค่อยใส่ใจลูกค้า", "ทำเครื่องดื่มผิดแล้วไม่ขอโทษ"),
        "product": ("กาแฟวันนี้รสชาติจืดไปหน่อย", "ขนมไม่ค่อยสด", "ชาพีชหวานเกินไป"),
        "cleanliness": ("โต๊ะยังไม่ได้เช็ด", "ห้องน้ำควรทำความสะอาดบ่อยกว่านี้"),
        "price": ("ราคาแพงไปหน่อยเมื่อเทียบกับร้านแถวนี้", "ขึ้นราคาแต่คุณภาพเท่าเดิม"),
    },
    "en": {
        "praise": ("Great coffee and a lovely space.", "Really happy, will come back!",
                   "Clean shop, quick service."),
        "staff_praise": ("The staff were so friendly and helpful.",
                         "The barista recommended a great drink.",
                         "Thanks to the cashier for the kind help."),
        "neutral": ("Fine overall, but noisy at rush hour.", "Good drinks, not enough seats.",
                    "The Wi-Fi is slow."),
        "wait_time": ("Waited far too long for my drink.", "Only one till open at lunchtime.",
                      "Almost 20 minutes for an iced coffee."),
        "staff": ("Staff didn't seem to care.", "Got the wrong order and no apology."),
        "product": ("The coffee was weak today.", "The pastries weren't fresh.",
                    "Peach tea is way too sweet."),
        "cleanliness": ("Tables weren't wiped.", "The restroom needs cleaning more often."),
        "price": ("A bit pricey for the area.", "Prices went up, quality didn't."),
    },
}
# fmt: on
