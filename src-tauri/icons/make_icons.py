import zlib, struct, sys, math
def png(w,h,px,path):
    raw=b''.join(b'\x00'+bytes(px[y*w*4:(y+1)*w*4]) for y in range(h))
    def chunk(t,d): return struct.pack('>I',len(d))+t+d+struct.pack('>I',zlib.crc32(t+d)&0xffffffff)
    open(path,'wb').write(b'\x89PNG\r\n\x1a\n'+chunk(b'IHDR',struct.pack('>IIBBBBB',w,h,8,6,0,0,0))+chunk(b'IDAT',zlib.compress(raw,9))+chunk(b'IEND',b''))
def draw(n):
    S=4  # supersampling
    px=[0]*(n*n*4)
    # stones: (cx, cy, rx, ry) in unit coords, colours
    stones=[(0.5,0.78,0.30,0.10,(0x3b,0x4a,0x5c)),(0.5,0.60,0.23,0.085,(0x4f,0x63,0x78)),(0.5,0.445,0.17,0.07,(0x6b,0x83,0x9c)),(0.5,0.315,0.11,0.058,(0x8f,0xaa,0xc4))]
    for y in range(n):
        for x in range(n):
            acc=[0,0,0,0]
            for sy in range(S):
                for sx in range(S):
                    u=(x+(sx+0.5)/S)/n; v=(y+(sy+0.5)/S)/n
                    # rounded square background
                    r=0.18; dx=max(abs(u-0.5)-(0.5-r-0.02),0); dy=max(abs(v-0.5)-(0.5-r-0.02),0)
                    col=None
                    if dx*dx+dy*dy<=r*r:
                        t=v; col=(int(0xe8-0x18*t),int(0xf1-0x14*t),int(0xf6-0x0c*t))
                    for cx,cy,rx,ry,c in stones:
                        if ((u-cx)/rx)**2+((v-cy)/ry)**2<=1: col=c
                    if col:
                        acc[0]+=col[0];acc[1]+=col[1];acc[2]+=col[2];acc[3]+=255
            k=S*S; a=acc[3]
            i=(y*n+x)*4
            if a:
                px[i]=acc[0]*255//a; px[i+1]=acc[1]*255//a; px[i+2]=acc[2]*255//a; px[i+3]=a//k
    return px
for n,name in [(32,'32x32.png'),(128,'128x128.png'),(512,'icon.png')]:
    png(n,n,draw(n),'icons/'+name)
