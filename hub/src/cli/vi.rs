//! The Vietnamese of `baobi-hub`'s command line, in one table (see `baobi_cli::Entry` for the keys).
//! The English is the doc comments in `args.rs`.

/// Every command, arg and value of `baobi-hub`, in Vietnamese.
pub const TABLE: &[baobi_cli::Entry] = &[
    ("", "", "Máy chủ tỉnh baobi: cấp đăng ký cho văn phòng, gộp phiếu khảo sát của họ, báo cáo tổng hợp."),
    ("", "data", "Thư mục dữ liệu của máy chủ (kho sled và socket điều khiển)."),
    ("", "log_format", "Dòng nhật ký trên stderr: `text` để người đọc, `json` (mỗi dòng một đối tượng) cho bộ thu nhật ký."),
    ("", "log_format=text", "dòng chữ cho người đọc"),
    ("", "log_format=json", "mỗi dòng một đối tượng JSON (`timestamp`, `level`, `fields`, `target`)"),
    ("init", "", "Tạo kho dữ liệu máy chủ mới cho một tỉnh (khóa, chứng chỉ, đơn vị hành chính)."),
    ("init", "province", "Mã tỉnh (ví dụ 87)."),
    ("init", "name", "Tên tỉnh (ví dụ \"Đồng Tháp\")."),
    ("init", "units", "Tệp CSV đơn vị hành chính (mặc định: danh sách đơn vị có sẵn)."),
    ("init", "lineage", "Tệp CSV lịch sử đơn vị qua các lần sắp xếp (mặc định: lịch sử có sẵn)."),
    ("init", "plan", "Kế hoạch cần nạp: mã kế hoạch có sẵn (ví dụ dong-thap-2021) hoặc tệp TOML."),
    ("enroll", "", "Cấp mã đăng ký dùng một lần cho văn phòng của một đơn vị."),
    ("enroll", "unit", "Đơn vị của văn phòng (huyện hoặc xã): CODE là phiên bản đang có hiệu lực hôm nay, CODE@YYYY-MM-DD là phiên bản có hiệu lực vào ngày đó."),
    ("enroll", "label", "Tên gọi văn phòng (ví dụ \"UBND huyện Lai Vung\")."),
    ("enroll", "addr", "Địa chỉ máy chủ mà văn phòng kết nối tới (mặc định: địa chỉ `serve` lắng nghe gần nhất)."),
    ("enroll", "ttl_hours", "Số giờ mã còn hiệu lực."),
    ("restore", "", "`restore AGENT`: cấp mã khôi phục dùng một lần cho văn phòng bị mất ổ đĩa (và khóa): văn phòng dùng mã (`baobi-agent restore --token`) tiếp quản đơn vị của nó, khóa đã mất bị thu hồi. `restore --from FILE --data NEWDIR`: tạo máy chủ mới từ bản sao lưu."),
    ("restore", "agent", "Văn phòng bị mất: tiền tố khóa tác giả (ít nhất 8 chữ số hex) hoặc đúng tên gọi."),
    ("restore", "addr", "Địa chỉ máy chủ mà văn phòng kết nối tới (mặc định: địa chỉ `serve` lắng nghe gần nhất)."),
    ("restore", "ttl_hours", "Số giờ mã còn hiệu lực."),
    ("restore", "from", "Tệp sao lưu (`baobi-hub backup`): tạo máy chủ mới từ tệp này trong --data DIR (chưa có hoặc trống); dữ liệu được dựng lại từ các mục và kết quả được kiểm tra."),
    ("restore", "json", "In dạng JSON (với --from)."),
    ("backup", "", "Ghi bản sao lưu nhất quán, nén, có tổng kiểm tra của máy chủ vào một tệp mới (chỉ chủ sở hữu đọc được: tệp chứa khóa bí mật của máy chủ). Chạy được khi máy chủ đang phục vụ."),
    ("backup", "out", "Tệp cần tạo (phải chưa tồn tại)."),
    ("backup", "json", "In dạng JSON."),
    ("verify", "", "Kiểm tra lại mọi mục đã lưu (chuỗi, chữ ký, thẩm quyền) và dữ liệu tổng hợp so với tính lại, không thay đổi gì. Mã thoát 3 khi phát hiện vấn đề."),
    ("verify", "json", "In dạng JSON."),
    ("serve", "", "Phục vụ các văn phòng qua QUIC (và socket điều khiển) cho đến khi nhận SIGINT/SIGTERM."),
    ("serve", "listen", "Địa chỉ lắng nghe (cổng 0 để tự chọn cổng trống)."),
    ("serve", "http", "Phục vụ thêm bảng điều khiển qua HTTP ở địa chỉ này (chỉ PORT nghĩa là 127.0.0.1:PORT)."),
    ("serve", "http_public", "Cho phép bảng điều khiển trên mọi giao diện mạng (0.0.0.0 hoặc [::]); không có --http-tls thì mật khẩu đi qua mạng không mã hóa (có cảnh báo rõ)."),
    ("serve", "http_tls", "Phục vụ bảng điều khiển qua HTTPS: bằng chứng chỉ tự ký của máy chủ (tạo khi `init`, hoặc tạo ngay với máy chủ cũ; in ra dấu vân tay), hoặc bằng --http-cert/--http-key."),
    ("serve", "http_cert", "Chuỗi chứng chỉ (PEM) của người vận hành cho --http-tls."),
    ("serve", "http_key", "Khóa riêng (PEM) của --http-cert."),
    ("serve", "metrics_token", "Mã bearer mở thêm `GET /metrics` (cho Prometheus; phiên đăng nhập của người vận hành cũng mở được)."),
    ("totals", "", "Số liệu tổng hợp của một năm báo cáo."),
    ("totals", "year", "Năm báo cáo (mặc định: năm gần nhất có dữ liệu)."),
    ("totals", "by", "Chỉ nhóm theo xã hoặc chỉ theo loại cơ sở (mặc định: cả hai)."),
    ("totals", "by=unit", "mỗi xã một dòng (cộng các loại cơ sở)"),
    ("totals", "by=kind", "mỗi loại cơ sở một dòng (cộng các xã)"),
    ("totals", "json", "In dạng JSON thay cho bảng."),
    ("records", "", "Mọi bản ghi máy chủ đang giữ, với các phiên bản hiện hành."),
    ("records", "json", "In dạng JSON thay cho bảng."),
    ("agents", "", "Các văn phòng đã đăng ký (`agents move` giao cho một văn phòng các đơn vị kế thừa)."),
    ("agents", "json", "In dạng JSON thay cho bảng."),
    ("agents move", "", "Giao cho một văn phòng các đơn vị kế thừa (ví dụ các xã thay huyện của nó sau đợt sắp xếp năm 2025); văn phòng vẫn giữ đơn vị đã đăng ký và dữ liệu cũ. Văn phòng nhận biết ở lần đồng bộ tiếp theo."),
    ("agents move", "agent", "Tiền tố khóa tác giả (ít nhất 8 chữ số hex) hoặc đúng tên gọi."),
    ("agents move", "unit", "Một đơn vị văn phòng nay phụ trách: CODE (phiên bản có hiệu lực hôm nay) hoặc CODE@YYYY-MM-DD; lặp lại cho nhiều đơn vị. Thay cho các đơn vị của lần giao trước."),
    ("agents move", "json", "In dạng JSON."),
    ("revoke", "", "Thu hồi một văn phòng: lần kết nối sau của nó bị từ chối."),
    ("revoke", "agent", "Tiền tố khóa tác giả (ít nhất 8 chữ số hex) hoặc đúng tên gọi."),
    ("revoke", "json", "In dạng JSON."),
    ("operator", "", "Người vận hành bảng điều khiển: thêm, liệt kê, xóa."),
    ("operator add", "", "Thêm người vận hành (hỏi mật khẩu hai lần, hoặc đọc một dòng từ stdin)."),
    ("operator add", "name", "Tên đăng nhập."),
    ("operator add", "password_stdin", "Đọc mật khẩu từ dòng đầu của stdin thay vì hỏi (cho script)."),
    ("operator add", "json", "In dạng JSON."),
    ("operator list", "", "Liệt kê người vận hành."),
    ("operator list", "json", "In dạng JSON."),
    ("operator remove", "", "Xóa người vận hành (các phiên đang mở của họ kết thúc ngay)."),
    ("operator remove", "name", "Tên đăng nhập."),
    ("operator remove", "json", "In dạng JSON."),
    ("demo", "", "Chạy bản trình diễn đầu-cuối: một máy chủ và ba văn phòng, làm việc không có mạng, đồng bộ, tổng hợp."),
    ("demo", "keep", "Giữ lại thư mục tạm của bản trình diễn và in đường dẫn."),
    ("plan", "", "Kế hoạch và các chỉ tiêu: nạp một kế hoạch, xem kế hoạch đang áp dụng, liệt kê các kế hoạch có sẵn."),
    ("plan set", "", "Nạp một kế hoạch: tệp TOML hoặc mã của kế hoạch có sẵn. Kế hoạch được đồng bộ xuống mọi văn phòng."),
    ("plan set", "file", "Đường dẫn tệp hoặc mã kế hoạch có sẵn (xem `plan list`)."),
    ("plan set", "json", "In dạng JSON."),
    ("plan show", "", "Xem kế hoạch đang áp dụng."),
    ("plan show", "json", "In dạng JSON."),
    ("plan show", "toml", "In dưới dạng tệp kế hoạch (TOML), để sửa rồi nạp lại bằng `plan set`."),
    ("plan list", "", "Liệt kê các kế hoạch mẫu có sẵn."),
    ("review", "", "Quyết định duyệt bản ghi: xác nhận, hoặc trả về văn phòng kèm lý do."),
    ("review verify", "", "Xác nhận phiên bản hiện hành của một bản ghi."),
    ("review verify", "id", "Mã bản ghi (đầy đủ hoặc rút gọn, như `records` hiển thị)."),
    ("review verify", "json", "In dạng JSON."),
    ("review return", "", "Trả một bản ghi về văn phòng để sửa."),
    ("review return", "id", "Mã bản ghi (đầy đủ hoặc rút gọn, như `records` hiển thị)."),
    ("review return", "reason", "Lý do: văn phòng thấy trong `baobi-agent survey list`."),
    ("review return", "json", "In dạng JSON."),
    ("settings", "", "Thiết lập máy chủ: các bản ghi được tính vào chỉ số, quy tắc I1."),
    ("settings", "json", "In dạng JSON."),
    ("settings basis", "", "Các bản ghi được tính vào chỉ số."),
    ("settings basis", "value", "`submitted` (mọi bản ghi trừ bản bị trả lại) hoặc `verified` (chỉ bản đã xác nhận)."),
    ("settings basis", "value=submitted", "mọi bản ghi trừ bản bị trả lại để sửa"),
    ("settings basis", "value=verified", "chỉ bản ghi đã xác nhận"),
    ("settings i1-rule", "", "Quy tắc mà phiếu khảo sát mới nhất của một cơ sở phải đạt cho chỉ số I1."),
    ("settings i1-rule", "value", "`no-nonbio` (không phát túi ni lông khó phân hủy) hoặc `eco-offered` (có cung cấp bao bì thân thiện môi trường)."),
    ("settings i1-rule", "value=no-nonbio", "không phát túi ni lông khó phân hủy"),
    ("settings i1-rule", "value=eco-offered", "có cung cấp bao bì thân thiện môi trường (túi thân thiện hoặc túi dùng nhiều lần)"),
    ("indicators", "", "Các chỉ số của kế hoạch trong một năm, cho cả tỉnh hoặc một đơn vị và từng đơn vị trực thuộc."),
    ("indicators", "year", "Năm báo cáo (mặc định: năm gần nhất có dữ liệu)."),
    ("indicators", "unit", "Phạm vi: mã đơn vị (mặc định: cả tỉnh)."),
    ("indicators", "trend", "Mọi năm có dữ liệu hoặc có chỉ tiêu, thay vì một năm."),
    ("indicators", "json", "In dạng JSON thay cho bảng."),
];

#[cfg(test)]
mod tests {
    use super::TABLE;
    use clap::CommandFactory;

    #[test]
    fn every_command_arg_and_value_has_vietnamese() {
        let problems = baobi_cli::missing(crate::cli::Cli::command(), TABLE);
        assert!(
            problems.is_empty(),
            "add them to hub/src/cli/vi.rs:\n{}",
            problems.join("\n")
        );
    }

    #[test]
    fn the_vietnamese_is_nfc() {
        assert_eq!(baobi_cli::not_nfc(TABLE), Vec::<String>::new());
    }
}
